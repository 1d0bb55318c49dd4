// A matrix-js-sdk 37.5.0 client with Rust crypto, driven over stdin/stdout by a
// test in another language (tests/interop/jspeer.py wraps it for Python).
//
//   node tests/interop/js-peer.mjs HOMESERVER_URL
//
// One JSON request per line on stdin, one JSON answer per line on stdout, in
// order: {"id": N, "ok": true, ...} or {"id": N, "ok": false, "error": "..."}.
//
//   {"op":"start","user","password","register":true,"device_id"?,"cross_sign":false,"only_signed":false}
//        -> {"user_id","device_id","uia":[...]}
//   {"op":"join","room","timeout_ms"?,"encrypted"?}  waits for the invite, joins, and (unless
//                                            encrypted is false) for the room's encryption state
//   {"op":"send","room","body","msgtype"?}   -> {"event_id"}
//   {"op":"messages","room"}                 -> {"messages":[{id,sender,body,msgtype,encrypted,failure,session}]}
//   {"op":"wait","room","contains","sender"?,"timeout_ms"?}  a decrypted message whose body contains it
//   {"op":"device","user","device"}          -> {"signed_by_owner","cross_signing_verified"}
//   {"op":"leave","room"}
//   {"op":"quit"}
// SDK warnings go to stderr.  The process also exits when stdin closes.

import { createInterface } from "node:readline";
import {
    account, decryptedMessages, haveSdk, loadSdk, poll, quietSdk, startClient,
} from "./js-e2ee-lib.mjs";

const baseUrl = process.argv[2] || process.env.HOMESERVER_URL;
if (!baseUrl || !haveSdk()) {
    process.stdout.write(JSON.stringify({ id: 0, ok: false, error: baseUrl
        ? "matrix-js-sdk or matrix-sdk-crypto-wasm not installed; run `npm ci` in tests/interop"
        : "usage: js-peer.mjs HOMESERVER_URL" }) + "\n");
    process.exit(1);
}
// In OnlySignedDevicesIsolationMode the Rust crypto refuses, by design, to decrypt
// senders whose device is not cross-signed (nio cannot cross-sign): not news.
quietSdk(/trust requirement not satisfied|sender identity is not cross-signed/);
const { sdk, cryptoApi } = await loadSdk();
let client = null;

function need() {
    if (!client) throw new Error("not started");
    return client;
}

const ops = {
    async start(r) {
        const acct = await account(sdk, baseUrl, r.user, r.password,
            { register: r.register !== false, deviceId: r.device_id });
        client = await startClient(sdk, cryptoApi, baseUrl, acct, r.password,
            { crossSign: !!r.cross_sign, onlySigned: !!r.only_signed });
        return { user_id: acct.userId, device_id: acct.deviceId, uia: client.uiaRounds };
    },
    async join(r) {
        const c = need();
        const t = r.timeout_ms || 20000;
        await poll(() => ["invite", "join"].includes(c.getRoom(r.room)?.getMyMembership()),
            `invite to ${r.room}`, t);
        if (c.getRoom(r.room).getMyMembership() !== "join") await c.joinRoom(r.room);
        await poll(() => c.getRoom(r.room)?.getMyMembership() === "join", "own join", t);
        if (r.encrypted !== false) {
            await poll(() => c.getCrypto().isEncryptionEnabledInRoom(r.room), "encryption state", t);
        }
        return {};
    },
    async send(r) {
        const res = await need().sendMessage(r.room, { msgtype: r.msgtype || "m.text", body: r.body });
        return { event_id: res.event_id };
    },
    async messages(r) {
        return { messages: await decryptedMessages(need(), r.room) };
    },
    async wait(r) {
        const c = need();
        let found = null;
        let last = [];
        try {
            await poll(async () => {
                last = await decryptedMessages(c, r.room);
                found = last.find((m) => m.body && m.body.includes(r.contains) &&
                    (!r.sender || m.sender === r.sender)) || null;
                return found;
            }, `a message containing ${JSON.stringify(r.contains)}`, r.timeout_ms || 20000);
        } catch (e) {
            throw new Error(`${e.message}; have ${JSON.stringify(last.slice(-8))}`);
        }
        return { message: found };
    },
    async device(r) {
        const st = await need().getCrypto().getDeviceVerificationStatus(r.user, r.device);
        return { known: !!st, signed_by_owner: !!st?.signedByOwner,
            cross_signing_verified: !!st?.crossSigningVerified };
    },
    async leave(r) {
        await need().leave(r.room);
        return {};
    },
    async quit() {
        return {};
    },
};

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
    if (!line.trim()) continue;
    let req;
    let res;
    try {
        req = JSON.parse(line);
        const fn = ops[req.op];
        if (!fn) throw new Error(`unknown op ${req.op}`);
        res = { id: req.id, ok: true, ...(await fn(req)) };
    } catch (e) {
        res = { id: req?.id, ok: false, error: String(e && e.message ? e.message : e) };
    }
    process.stdout.write(JSON.stringify(res) + "\n");
    if (req?.op === "quit") break;
}
if (client) client.stopClient();
process.exit(0);
