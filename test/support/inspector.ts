// The inspector of a process started with `--inspect=127.0.0.1:0` (its stderr names the
// address: "Debugger listening on ws://..."): evaluates expressions in its main thread and in
// its worker threads (the pipeline thread) through the NodeWorker domain. The soak uses it to
// force a GC in a worker process; a test uses it to end a worker's pipeline thread as a crash
// of that thread would, without any hook in the worker.
import WebSocket from 'ws';

interface Message {
  id?: number;
  result?: unknown;
  error?: { message: string };
  method?: string;
  params?: Record<string, unknown>;
}

/** The address in a "Debugger listening on ws://..." line. */
export function inspectorUrl(line: string): string {
  const url = /ws:\/\/\S+/.exec(line)?.[0];
  if (url === undefined) throw new Error(`no inspector address in: ${line}`);
  return url;
}

export class ProcessInspector {
  private nextId = 1;
  private readonly replies = new Map<number, (result: unknown) => void>();
  private readonly threadReplies = new Map<string, (result: unknown) => void>();
  /** Attached worker threads: session id -> the thread's script URL. */
  private readonly threads = new Map<string, string>();
  private readonly threadWaiters = new Set<() => void>();

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const message = JSON.parse((data as Buffer).toString('utf8')) as Message;
      if (message.id !== undefined) {
        this.replies.get(message.id)?.(message.error === undefined ? message.result : new Error(message.error.message));
        this.replies.delete(message.id);
      } else if (message.method === 'NodeWorker.attachedToWorker') {
        const info = message.params!.workerInfo as { url: string };
        this.threads.set(message.params!.sessionId as string, info.url);
        for (const waiter of this.threadWaiters) waiter();
      } else if (message.method === 'NodeWorker.detachedFromWorker') {
        this.threads.delete(message.params!.sessionId as string);
      } else if (message.method === 'NodeWorker.receivedMessageFromWorker') {
        const inner = JSON.parse(message.params!.message as string) as Message;
        const key = `${message.params!.sessionId as string}:${inner.id}`;
        this.threadReplies.get(key)?.(inner.result);
        this.threadReplies.delete(key);
      }
    });
  }

  static async connect(url: string): Promise<ProcessInspector> {
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const inspector = new ProcessInspector(socket);
    await inspector.call('NodeWorker.enable', { waitForDebuggerOnStart: false });
    return inspector;
  }

  /** The script URLs of the attached worker threads (tsx's module hooks run in one too). */
  threadUrls(): string[] {
    return [...this.threads.values()];
  }

  /** Resolves once `count` worker threads whose URL matches are attached (they attach as they start). */
  async waitForThreads(count: number, match: RegExp, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.sessions(match).length < count) {
      if (Date.now() > deadline)
        throw new Error(
          `worker threads ${JSON.stringify(this.threadUrls())} attached, expected ${count} matching ${match}, within ${timeoutMs} ms`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.threadWaiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.threadWaiters.clear();
    }
  }

  /** Evaluates `expression` in the main thread; its value (a string or number, say). */
  async evaluate(expression: string): Promise<unknown> {
    return valueOf(await this.call('Runtime.evaluate', { expression }));
  }

  /** Evaluates `expression` in every attached worker thread whose URL matches; their values. */
  evaluateInThreads(expression: string, match: RegExp): Promise<unknown[]> {
    return Promise.all(
      this.sessions(match).map(async (sessionId) => valueOf(await this.callInThread(sessionId, 'Runtime.evaluate', { expression }, true))),
    );
  }

  /** Hands `expression` to the matching worker threads without waiting for a value (one that ends the thread gives none). */
  async runInThreads(expression: string, match: RegExp): Promise<void> {
    await Promise.all(this.sessions(match).map((sessionId) => this.callInThread(sessionId, 'Runtime.evaluate', { expression }, false)));
  }

  private sessions(match: RegExp): string[] {
    return [...this.threads].filter(([, url]) => match.test(url)).map(([sessionId]) => sessionId);
  }

  close(): void {
    this.socket.close();
  }

  private call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    const reply = new Promise<unknown>((resolve, reject) => this.replies.set(id, (r) => (r instanceof Error ? reject(r) : resolve(r))));
    this.socket.send(JSON.stringify({ id, method, params }));
    return reply;
  }

  private async callInThread(sessionId: string, method: string, params: Record<string, unknown>, awaitReply: boolean): Promise<unknown> {
    const id = this.nextId++;
    const reply = awaitReply ? new Promise<unknown>((resolve) => this.threadReplies.set(`${sessionId}:${id}`, resolve)) : undefined;
    await this.call('NodeWorker.sendMessageToWorker', { sessionId, message: JSON.stringify({ id, method, params }) });
    return reply;
  }
}

function valueOf(result: unknown): unknown {
  return (result as { result: { value?: unknown } }).result.value;
}
