// Interop: matrix-js-sdk 37.5.0 with its Rust crypto (matrix-sdk-crypto-wasm,
// vodozemac) in an encrypted room, against gavel's test homeserver.
//
//   node tests/interop/js-e2ee.mjs http://127.0.0.1:PORT
//
// alice and bob bootstrap cross-signing (password UIA on
// /keys/device_signing/upload, /keys/signatures/upload); alice sends only to
// devices their owner signed (OnlySignedDevicesIsolationMode); carol never
// cross-signs, so alice's room keys are withheld from her while bob's reach
// her.  Messages both ways are decrypted; the server sees only ciphertext;
// when carol leaves, alice's next message uses a new Megolm session.
// Prints "N passed, 0 failed"; exit 1 with the failing check otherwise.

import {
    account, decryptedMessages, haveSdk, loadSdk, poll, quietSdk, roomEncryptionState, startClient,
} from "./js-e2ee-lib.mjs";

const HARD_TIMEOUT_MS = 120_000;
const baseUrl = process.argv[2] || process.env.HOMESERVER_URL;
if (!baseUrl) {
    console.error("usage: js-e2ee.mjs HOMESERVER_URL");
    process.exit(2);
}
if (!haveSdk()) {
    console.error("FAIL: matrix-js-sdk or matrix-sdk-crypto-wasm not installed; run `npm ci` in tests/interop");
    process.exit(1);
}
const out = (...a) => process.stdout.write(a.join(" ") + "\n");
// JS_E2EE_UIA=replace: the homeserver runs with --cross-signing-uia replace (spec
// v1.11, MSC3967), so the first cross-signing keys go up without a password.
const firstUpload = process.env.JS_E2EE_UIA === "replace"
    ? ["no-uia"] : ["401 flows=m.login.password", "password"];
// carol's undecryptable copies of alice's messages are expected
quietSdk(/withheld code: Some\("m\.unverified"\)|disabled encrypting to unverified devices/);

let passed = 0;
let failed = 0;
let currentStep = "start";
const clients = [];
const hardTimer = setTimeout(() => {
    out(`FAIL: hard timeout (${HARD_TIMEOUT_MS / 1000} s) at step: ${currentStep}`);
    out(`${passed} passed, ${failed + 1} failed`);
    process.exit(1);
}, HARD_TIMEOUT_MS);

function ok(cond, what, detail) {
    if (cond) {
        passed++;
        out(`ok - ${what}`);
    } else {
        failed++;
        throw new Error(`check failed: ${what}` + (detail !== undefined ? `: ${JSON.stringify(detail)}` : ""));
    }
}

async function step(name, fn) {
    currentStep = name;
    return await fn();
}

const { sdk, cryptoApi } = await loadSdk();

async function serverEvents(roomId) {
    const r = await fetch(`${baseUrl}/_test/rooms/${encodeURIComponent(roomId)}/events`);
    return (await r.json()).events;
}

async function waitMessage(c, roomId, body, what) {
    let last = [];
    try {
        await poll(async () => {
            last = await decryptedMessages(c, roomId);
            return last.some((m) => m.body === body);
        }, what);
    } catch (e) {
        throw new Error(`${e.message}; ${c.getUserId()} has ${JSON.stringify(last)}`);
    }
    return last.find((m) => m.body === body);
}

async function main() {
    const pw = { alice: "secret-alice", bob: "secret-bob", carol: "secret-carol" };
    const [alice, bob, carol] = await step("register and start", async () => {
        const cs = [];
        for (const [name, opts] of [["alice", { crossSign: true, onlySigned: true }],
            ["bob", { crossSign: true }], ["carol", {}]]) {
            const acct = await account(sdk, baseUrl, name, pw[name]);
            const c = await startClient(sdk, cryptoApi, baseUrl, acct, pw[name], opts);
            clients.push(c);
            cs.push(c);
        }
        ok(true, "three js clients with Rust crypto synced");
        return cs;
    });

    await step("cross-signing", async () => {
        for (const c of [alice, bob]) {
            ok(JSON.stringify(c.uiaRounds) === JSON.stringify(firstUpload),
                firstUpload.length === 1
                    ? `${c.getUserId()}: the first cross-signing keys went up without UIA (MSC3967)`
                    : `${c.getUserId()}: device_signing/upload asked for the password (401, session), then took it`,
                c.uiaRounds);
            await poll(() => c.getCrypto().isCrossSigningReady(), `${c.getUserId()} cross-signing ready`);
            ok(true, `${c.getUserId()}: cross-signing ready (keys on the server match the local ones)`);
            const st = await c.getCrypto().getDeviceVerificationStatus(c.getUserId(), c.getDeviceId());
            ok(st && st.crossSigningVerified, `${c.getUserId()}: own device cross-signed`);
        }
        ok(!(await carol.getCrypto().isCrossSigningReady()), "carol has no cross-signing");
        // what the server hands others: bob's device signed by his self-signing key
        const q = await carol.downloadKeysForUsers([bob.getUserId()]);
        const ssk = q.self_signing_keys[bob.getUserId()];
        const sskId = Object.keys(ssk.keys)[0];
        ok(q.master_keys[bob.getUserId()] && ssk &&
            q.device_keys[bob.getUserId()][bob.getDeviceId()].signatures[bob.getUserId()][sskId],
            "/keys/query: bob's master and self-signing keys, his device signed by the latter");
        ok(Object.keys(q.user_signing_keys || {}).length === 0, "/keys/query: nobody else's user-signing key");
    });

    const roomId = await step("encrypted room", async () => {
        const { room_id: roomId } = await alice.createRoom({
            name: "E2EE interop", preset: "private_chat",
            invite: [bob.getUserId(), carol.getUserId()], initial_state: [roomEncryptionState()],
        });
        for (const c of [bob, carol]) {
            await poll(() => c.getRoom(roomId)?.getMyMembership() === "invite", `${c.getUserId()}'s invite`);
            await c.joinRoom(roomId);
        }
        await poll(() => alice.getRoom(roomId)?.getJoinedMemberCount() === 3, "three joined members");
        for (const c of [alice, bob, carol]) {
            await poll(() => c.getCrypto().isEncryptionEnabledInRoom(roomId), `${c.getUserId()} sees encryption`);
        }
        ok(true, "three members, encryption on for every client");
        // (the Rust crypto tracks only the members of encrypted rooms it shares)
        await poll(async () => {
            const st = await alice.getCrypto().getDeviceVerificationStatus(bob.getUserId(), bob.getDeviceId());
            return st && st.signedByOwner;
        }, "alice sees bob's device signed by its owner");
        ok(true, "alice sees bob's device as signed by its owner");
        const cst = await alice.getCrypto().getDeviceVerificationStatus(carol.getUserId(), carol.getDeviceId());
        ok(cst && !cst.signedByOwner, "alice sees carol's device as not signed by its owner");
        return roomId;
    });

    let aliceSession;
    await step("alice -> bob (only signed devices)", async () => {
        await alice.sendTextMessage(roomId, "secret from alice");
        const m = await waitMessage(bob, roomId, "secret from alice", "bob decrypts alice's message");
        ok(m.encrypted && m.sender === alice.getUserId(), "bob decrypts alice's Megolm message");
        aliceSession = m.session;
        await poll(async () => (await decryptedMessages(carol, roomId)).some((x) => x.failure),
            "carol's copy of alice's message");
        const cm = (await decryptedMessages(carol, roomId)).filter((x) => x.sender === alice.getUserId());
        ok(cm.length >= 1 && cm.every((x) => x.failure),
            "carol (device not cross-signed) cannot decrypt it: alice withheld the key", cm);
    });

    await step("bob -> alice and carol", async () => {
        await bob.sendTextMessage(roomId, "secret from bob");
        const m = await waitMessage(alice, roomId, "secret from bob", "alice decrypts bob's message");
        ok(m.encrypted && m.sender === bob.getUserId(), "alice decrypts bob's message");
        await waitMessage(carol, roomId, "secret from bob", "carol decrypts bob's message");
        ok(true, "carol decrypts bob's message (bob shares with all devices)");
    });

    await step("the server sees only ciphertext", async () => {
        const evs = await serverEvents(roomId);
        const msgs = evs.filter((e) => e.type === "m.room.message");
        const enc = evs.filter((e) => e.type === "m.room.encrypted");
        ok(msgs.length === 0 && enc.length >= 2, "no m.room.message in the room, only m.room.encrypted",
            { msgs: msgs.length, enc: enc.length });
        ok(enc.every((e) => e.content.algorithm === "m.megolm.v1.aes-sha2" && e.content.ciphertext &&
            !JSON.stringify(e.content).includes("secret from")), "Megolm ciphertext, no plaintext");
    });

    await step("a member leaves: new session", async () => {
        await bob.leave(roomId);
        await poll(() => alice.getRoom(roomId)?.getJoinedMemberCount() === 2, "alice sees bob leave");
        await alice.sendTextMessage(roomId, "after bob left");
        const evs = await serverEvents(roomId);
        const last = evs.filter((e) => e.type === "m.room.encrypted" && e.sender === alice.getUserId()).pop();
        ok(last.content.session_id !== aliceSession, "alice's next message uses a new Megolm session",
            { old: aliceSession, new: last.content.session_id });
    });
}

let code = 0;
try {
    await main();
} catch (e) {
    out(`FAIL at step '${currentStep}': ${e && e.stack ? e.stack : e}`);
    if (e && e.errcode) out(`  errcode ${e.errcode} httpStatus ${e.httpStatus}`);
    if (failed === 0) failed = 1;
    code = 1;
} finally {
    for (const c of clients) {
        try {
            c.stopClient();
        } catch {
            /* ignore */
        }
    }
    clearTimeout(hardTimer);
}
out(`${passed} passed, ${failed} failed`);
process.exit(code);
