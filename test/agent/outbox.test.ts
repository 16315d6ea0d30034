/**
 * The pool's threads say everything of one turn of their loop in one postMessage
 * (src/agent/pool/outbox.ts): each crossing wakes the other thread.
 */
import { Outbox } from '../../src/agent/pool/outbox';

const turn = () => new Promise<void>((r) => setImmediate(r));

describe('Outbox', () => {
  it("sends one turn's messages as one batch at its end, in order, with the drains' messages last", async () => {
    const sent: string[][] = [];
    const box = new Outbox<string>((batch) => sent.push(batch));
    let grants: string[] = [];
    box.onFlush(() => {
      if (grants.length === 0) return undefined;
      const m = `grant ${grants.join(',')}`;
      grants = [];
      return m;
    });
    box.push('done 1');
    grants.push('4');
    box.push('run 2');
    grants.push('5');
    expect(sent).toEqual([]);
    await turn();
    expect(sent).toEqual([['done 1', 'run 2', 'grant 4,5']]);
    grants.push('6');
    box.schedule();
    await turn();
    expect(sent).toEqual([['done 1', 'run 2', 'grant 4,5'], ['grant 6']]);
  });

  it('sends nothing for a turn with nothing to say', async () => {
    const sent: number[][] = [];
    const box = new Outbox<number>((batch) => sent.push(batch));
    box.onFlush(() => undefined);
    box.schedule();
    await turn();
    await turn();
    expect(sent).toEqual([]);
  });

  it('starts a new batch for what is pushed while one is being sent', async () => {
    const sent: number[][] = [];
    const box = new Outbox<number>((batch) => {
      sent.push(batch);
      if (batch[0] === 1) box.push(2);
    });
    box.push(1);
    await turn();
    await turn();
    expect(sent).toEqual([[1], [2]]);
  });
});
