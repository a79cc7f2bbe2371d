import { dial } from "./autograder/toolkit/conn.ts";
import { seededBytes } from "./autograder/toolkit/bytes.ts";
const port = Number(Deno.args[0]);
const conn = await dial(port);
conn.armReset();
conn.send(new Uint8Array(1 << 20).fill(7)).catch((e) => console.log("send err", e.message));
const got = await conn.readSome({ ms: 5000 });
console.log("got", got.bytes.length);
conn.reset();
