import assert from "node:assert/strict";
import { failVerdict } from "../../harness/context.ts";
import { dial } from "../../toolkit/conn.ts";
import { encodeSet, KvClient, latin1, showReply } from "./client.ts";
import { matches } from "./protocol_probes.ts";

/** A fake server that writes `script` to the first client, in pieces, then waits for it to go. */
async function withFakeServer(
  script: Uint8Array[],
  use: (port: number) => Promise<void>,
): Promise<void> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    try {
      for (const piece of script) await conn.write(piece);
      await conn.read(new Uint8Array(1)); // until the client closes
    } finally {
      conn.close();
    }
  })();
  await use(listener.addr.port);
  await serving;
}

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("client: parses each reply kind, ids ignored, values as bytes split across reads", async () => {
  const value = "a\r\nEND\r\n\x00";
  const script = [
    enc("STORED #12\r\nEND\r\nVAL"),
    enc(`UE k ${value.length} #3\r\n${value.slice(0, 4)}`),
    enc(`${value.slice(4)}\r\nEND\r\nDELETED #3\r\nNOT_FOUND\r\nEXCHANGED #1 #2\r\nERROR\r\n`),
    enc("huh?\r\n"),
  ];
  await withFakeServer(script, async (port) => {
    const client = await KvClient.dial({ dial }, port);
    try {
      const kinds = [];
      for (let i = 0; i < 7; i++) {
        const reply = await client.reply(2_000);
        kinds.push(reply.kind);
        if (reply.kind === "value") assert.equal(latin1(reply.value), value);
      }
      assert.deepEqual(kinds, [
        "stored",
        "end",
        "value",
        "deleted",
        "not_found",
        "exchanged",
        "error",
      ]);
      assert.deepEqual(await client.reply(2_000), { kind: "garbage", line: "huh?" });
      const late = await client.reply(50);
      assert.equal(late.kind, "timeout", JSON.stringify(late));
    } finally {
      client.close();
    }
  });
});

Deno.test("client: encodes SET with its exact byte count; matches ignores ids", () => {
  assert.equal(latin1(encodeSet("k", "h\u00e9")), "SET k 3\r\nh\xc3\xa9");
  assert.ok(matches({ kind: "value", key: "k", value: enc("x") }, { kind: "value", value: "x" }));
  assert.ok(!matches({ kind: "value", key: "k", value: enc("x") }, { kind: "value", value: "y" }));
  assert.ok(!matches({ kind: "end" }, { kind: "stored" }));
});

Deno.test("client: a reply shown in a report is ASCII; bytes over 0x7f in hex", () => {
  const shown = [
    showReply({ kind: "value", key: "k", value: enc("a\r\nb".repeat(20)) }),
    showReply({ kind: "value", key: "k", value: Uint8Array.of(0, 0xff, 0x41) }),
    showReply({ kind: "garbage", line: "\xe9t\xe9" }),
  ];
  assert.deepEqual(shown, [
    `VALUE k (80 bytes: "${"a\r\nb".repeat(10)}...")`,
    "VALUE k (3 bytes: hex 00 ff 41)",
    "hex e9 74 e9",
  ]);
  const report = failVerdict({ what: "GET k", got: shown[1] }).message;
  assert.ok(!report.includes("\\x"), report); // no character became UTF-8 bytes
});

Deno.test("client: a server that resets while a big SET is sent gives a reply, not an exception", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(64));
    conn.close(); // unread bytes left: the kernel resets the connection
  })();
  const client = new KvClient(await dial(listener.addr.port));
  try {
    const got = await client.call(encodeSet("big", new Uint8Array(16 * 1024 * 1024)), 2_000);
    assert.equal(got.kind, "closed", showReply(got));
  } finally {
    client.close();
    await serving;
  }
});
