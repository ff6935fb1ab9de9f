// Typed prompt errors. Every message is written for the person who typed the prompt
// (the bot shows it as is), so it quotes what they wrote and says what would work.

export class PromptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Emphasis or prompt-editing syntax that cannot be read (A1111 itself fails on these inputs). */
export class PromptSyntaxError extends PromptError {}

/** A Midjourney-style `--flag` that is unknown, repeated or has no value. */
export class InlineParameterError extends PromptError {}

/** `{a, b}` permutations that would make more prompts than allowed. */
export class TooManyPermutationsError extends PromptError {
  constructor(
    readonly count: number,
    readonly max: number,
  ) {
    super(`the {…} choices in this prompt make ${count} prompts; at most ${max} are allowed`);
  }
}
