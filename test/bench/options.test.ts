/**
 * The benchmarks run the agent with the systemd unit's node options, read from the unit, so that
 * what they measure is the heap the agent ships with (npm run bench and the scripts that start
 * agents: bench-ab, bench-threads, bench-profile).
 */
import fs from 'node:fs';
import path from 'node:path';
import { optionsFromEnv } from '../../src/bench/storm/run';
import { unitNodeArgs } from '../../src/bench/storm/shape';

/** The unit's NODE_OPTIONS, found the plain way: the Environment= line that sets it. */
function unitLine(): string[] {
  const unit = fs.readFileSync(path.join(__dirname, '..', '..', 'systemd', 'handshaked.service'), 'utf8');
  const line = unit.split('\n').find((l) => l.startsWith('Environment=') && l.includes('NODE_OPTIONS='));
  if (!line) throw new Error('the unit sets no NODE_OPTIONS');
  return line.slice(line.indexOf('NODE_OPTIONS=') + 'NODE_OPTIONS='.length).replace(/"$/, '').split(' ').filter(Boolean);
}

describe('benchmark node options', () => {
  test("unitNodeArgs is the unit's NODE_OPTIONS, option by option", () => {
    const expected = unitLine();
    expect(expected.length).toBeGreaterThan(0);
    expect(unitNodeArgs()).toEqual(expected);
  });

  test('npm run bench takes them by default, BENCH_AGENT_NODE_ARGS replaces them, "none" drops them', () => {
    expect(optionsFromEnv({}).agentNodeArgs).toEqual(unitLine());
    expect(optionsFromEnv({ BENCH_AGENT_NODE_ARGS: '--jitless  --stack-size=900' }).agentNodeArgs).toEqual(['--jitless', '--stack-size=900']);
    expect(optionsFromEnv({ BENCH_AGENT_NODE_ARGS: 'none' }).agentNodeArgs).toEqual([]);
  });
});
