// Shared by js-e2ee.mjs and js-peer.mjs: matrix-js-sdk 37.5.0 clients with the
// Rust crypto (@matrix-org/matrix-sdk-crypto-wasm, i.e. vodozemac), in memory,
// against the loopback test homeserver.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));

export function haveSdk() {
    return existsSync(join(HERE, "node_modules", "matrix-js-sdk")) &&
        existsSync(join(HERE, "node_modules", "@matrix-org", "matrix-sdk-crypto-wasm"));
}

// The SDK logs a lot at debug/info level; keep warnings and errors, minus known
// noise.  `sink` gets what is left (stderr by default, so stdout stays clean).
export function quietSdk(expected = null,
    sink = (...a) => process.stderr.write(a.map(String).join(" ") + "\n")) {
    if (process.env.INTEROP_VERBOSE) return;
    console.log = console.info = console.debug = () => {};
    const noise = /push rule|Got room state event for unknown room|Secret storage is not yet set up|not exporting keys to secret storage|Cannot export .* to secret storage|backup|Backup|dehydrat|Dehydrat|MatrixRTC|RTC session/;
    for (const level of ["warn", "error"]) {
        console[level] = (...a) => {
            if (!a.some((x) => typeof x === "string" && (noise.test(x) || (expected && expected.test(x))))) {
                sink(...a);
            }
        };
    }
}

export async function loadSdk() {
    const sdk = await import("matrix-js-sdk");
    const cryptoApi = await import("matrix-js-sdk/lib/crypto-api/index.js");
    return { sdk, cryptoApi };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function poll(pred, what, timeoutMs = 20000) {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
        if (await pred()) return;
        await sleep(50);
    }
    throw new Error(`timed out waiting for ${what}`);
}

// Register (m.login.dummy UIA) or log in; returns {userId, deviceId, accessToken}.
export async function account(sdk, baseUrl, username, password, { register = true, deviceId } = {}) {
    const anon = sdk.createClient({ baseUrl });
    if (register) {
        let session = null;
        try {
            await anon.registerRequest({ username, password });
        } catch (e) {
            session = e.data && e.data.session;
        }
        if (!session) throw new Error(`${username}: register did not offer a UIA session`);
        const r = await anon.registerRequest({
            username, password, device_id: deviceId,
            auth: { type: "m.login.dummy", session },
        });
        return { userId: r.user_id, deviceId: r.device_id, accessToken: r.access_token };
    }
    const r = await anon.loginRequest({
        type: "m.login.password", identifier: { type: "m.id.user", user: username },
        password, device_id: deviceId,
    });
    return { userId: r.user_id, deviceId: r.device_id, accessToken: r.access_token };
}

// A started client with Rust crypto.  opts.crossSign: bootstrap cross-signing,
// answering the server's password UIA; opts.onlySigned: send room keys only to
// devices their owner cross-signed (OnlySignedDevicesIsolationMode).
export async function startClient(sdk, cryptoApi, baseUrl, acct, password, opts = {}) {
    const c = sdk.createClient({
        baseUrl, accessToken: acct.accessToken, userId: acct.userId, deviceId: acct.deviceId,
    });
    await c.initRustCrypto({ useIndexedDB: false });
    const crypto = c.getCrypto();
    if (opts.onlySigned) {
        crypto.setDeviceIsolationMode(new cryptoApi.OnlySignedDevicesIsolationMode());
    }
    const prepared = new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${acct.userId}: initial sync timed out`)), 20000);
        const l = (state) => {
            if (state === sdk.SyncState.Prepared || state === sdk.SyncState.Syncing) {
                clearTimeout(t);
                c.removeListener(sdk.ClientEvent.Sync, l);
                resolve();
            }
        };
        c.on(sdk.ClientEvent.Sync, l);
    });
    await c.startClient({ initialSyncLimit: 20, lazyLoadMembers: false });
    await prepared;
    c.uiaRounds = [];
    if (opts.crossSign) {
        await crypto.bootstrapCrossSigning({
            // The spec's flow: ask without auth, get 401 + flows + session, answer with
            // the password.  The SDK hands us makeRequest(auth).
            authUploadDeviceSigningKeys: async (makeRequest) => {
                let session = null;
                try {
                    await makeRequest(null);
                    c.uiaRounds.push("no-uia");
                    return;
                } catch (e) {
                    if (e.httpStatus !== 401 || !e.data || !e.data.session) throw e;
                    const flows = (e.data.flows || []).map((f) => f.stages.join(","));
                    c.uiaRounds.push(`401 flows=${flows.join("|")}`);
                    session = e.data.session;
                }
                await makeRequest({
                    type: "m.login.password",
                    identifier: { type: "m.id.user", user: acct.userId },
                    password, session,
                });
                c.uiaRounds.push("password");
            },
        });
    }
    return c;
}

export function roomEncryptionState() {
    return { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } };
}

// Every m.room.message and m.reaction of a room as the client sees it, decrypted
// if it can be: [{id, sender, type, content, body, msgtype, encrypted, failure, session}]
export async function decryptedMessages(c, roomId) {
    const room = c.getRoom(roomId);
    if (!room) return [];
    const out = [];
    for (const ev of room.getLiveTimeline().getEvents()) {
        if (ev.isEncrypted() && !ev.getClearContent() && !ev.isDecryptionFailure()) {
            try {
                await c.decryptEventIfNeeded(ev);
            } catch {
                /* failure recorded on the event */
            }
        }
        if (!["m.room.message", "m.reaction"].includes(ev.getType()) &&
            !(ev.isEncrypted() && ev.isDecryptionFailure())) continue;
        out.push({
            id: ev.getId(), sender: ev.getSender(), encrypted: ev.isEncrypted(), type: ev.getType(),
            content: ev.isDecryptionFailure() ? null : ev.getContent(),
            body: ev.isDecryptionFailure() ? null : ev.getContent().body,
            msgtype: ev.isDecryptionFailure() ? null : ev.getContent().msgtype,
            failure: ev.isDecryptionFailure() ? String(ev.decryptionFailureReason) : null,
            session: ev.isEncrypted() ? ev.getWireContent().session_id : null,
        });
    }
    return out;
}
