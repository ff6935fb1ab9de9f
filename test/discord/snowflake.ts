// Discord-style snowflakes: milliseconds since the Discord epoch in the top bits, then a
// counter in the low 22 bits, so ids sort by creation time like real ones and never
// collide within one process.
const DISCORD_EPOCH = 1_420_070_400_000n;

let counter = 0n;

export function snowflake(at: number = Date.now()): string {
  counter = (counter + 1n) & 0x3fffffn;
  return (((BigInt(Math.floor(at)) - DISCORD_EPOCH) << 22n) | counter).toString();
}
