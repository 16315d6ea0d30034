/**
 * A worker thread tells the main thread about its handshakes' work slots once per turn of its
 * loop (src/agent/pool/slot-reports.ts): a read whose record was already there costs no message,
 * and many handshakes' changes in one turn cost one message.
 */
import { SlotReports } from '../../src/agent/pool/slot-reports';
import { Outbox } from '../../src/agent/pool/outbox';
import type { FromWorker } from '../../src/agent/pool/protocol';

type Report = { wait: number[]; want: number[] };
const turn = () => new Promise<void>((r) => setImmediate(r));

function reporter(): { reports: SlotReports; sent: Report[] } {
  const sent: Report[] = [];
  const outbox = new Outbox<FromWorker>((batch) => {
    for (const m of batch) if (m.t === 'slots') sent.push({ wait: m.wait, want: m.want });
  });
  return { reports: new SlotReports(outbox), sent };
}

describe('SlotReports', () => {
  it('sends nothing for a slot released and taken back in the same turn (the record was already readable)', async () => {
    const { reports, sent } = reporter();
    reports.released(7);
    expect(reports.takeBack(7)).toBe(true);
    await turn();
    await turn();
    expect(sent).toEqual([]);
  });

  it('tells a release at the end of the turn, and a later want in the next message', async () => {
    const { reports, sent } = reporter();
    reports.released(7);
    expect(sent).toEqual([]);
    await turn();
    expect(sent).toEqual([{ wait: [7], want: [] }]);
    expect(reports.takeBack(7)).toBe(false);
    reports.wanted(7);
    await turn();
    expect(sent).toEqual([
      { wait: [7], want: [] },
      { wait: [], want: [7] },
    ]);
  });

  it('puts every handshake changed in one turn into one message', async () => {
    const { reports, sent } = reporter();
    for (const id of [1, 2, 3]) reports.released(id);
    reports.wanted(9);
    reports.wanted(10);
    expect(reports.takeBack(2)).toBe(true);
    await turn();
    expect(sent).toEqual([{ wait: [1, 3], want: [9, 10] }]);
  });

  it('drops the untold release of a handshake that ended (its done frees the slot)', async () => {
    const { reports, sent } = reporter();
    reports.released(4);
    reports.released(5);
    reports.forget(4);
    await turn();
    expect(sent).toEqual([{ wait: [5], want: [] }]);
  });
});
