// Discord's 3-second deadline for the first response. Handlers run their database work
// through withinBudget: if it takes longer than what is left of the budget since the
// interaction arrived (several checks in a row share one budget), the interaction is
// deferred publicly first; a refusal then deletes the placeholder (errors.ts).
import type { RepliableInteraction } from 'discord.js';
import type { BotContext } from './context.js';

/**
 * How long database checks may take before the first response (`idleMs`). `inFlight`
 * counts checks under way: while any is (a burst), new ones defer at once, which keeps
 * every acknowledgement fast when the database is the bottleneck. `arrivals` holds when
 * each interaction in progress arrived (the dispatcher notes it).
 */
export interface ResponseBudget {
  idleMs: number;
  inFlight: number;
  arrivals: WeakMap<RepliableInteraction, number>;
}

export function createResponseBudget(idleMs: number): ResponseBudget {
  return { idleMs, inFlight: 0, arrivals: new WeakMap() };
}

const TIMED_OUT = Symbol('timed out');

/**
 * Runs `work` and returns its result, deferring the interaction first if the budget runs out.
 * If that deferral fails (Discord answers 10062 Unknown interaction: the deadline passed, or
 * the interaction is gone), no message will ever show what `work` made: `undo` gets its
 * result to take it back (a charged job is failed and refunded), a rejection of `work` is
 * settled here, and the deferral's error is thrown.
 */
export async function withinBudget<T>(
  ctx: BotContext,
  interaction: RepliableInteraction,
  work: Promise<T>,
  undo?: (result: T) => Promise<void>,
): Promise<T> {
  if (interaction.deferred || interaction.replied) return work;
  const budget = ctx.responseBudget;
  const spent = ctx.clock() - (budget.arrivals.get(interaction) ?? ctx.clock());
  const budgetMs = budget.inFlight > 0 ? 0 : Math.max(0, budget.idleMs - spent);
  budget.inFlight++;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), budgetMs);
  });
  try {
    const first = await Promise.race([work, timeout]);
    if (first !== TIMED_OUT) return first;
    try {
      await interaction.deferReply();
    } catch (deferError) {
      await work
        .then(
          (result) => undo?.(result),
          // Its error could only have been shown in the reply that just failed.
          (workError: unknown) =>
            ctx.logger.debug({ err: workError, interactionId: interaction.id }, 'the deferral failed; so did the work'),
        )
        .catch((undoError: unknown) =>
          ctx.logger.error(
            { err: undoError, interactionId: interaction.id },
            'could not take back the work of an interaction that could not be answered',
          ),
        );
      throw deferError;
    }
    return await work;
  } finally {
    clearTimeout(timer);
    budget.inFlight--;
  }
}
