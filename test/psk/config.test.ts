/** [handshaked] psk_modes: which external PSK key exchange modes the agent offers and accepts. */
import { parseConfigText } from '../../src/agent/config';

const parse = (text: string) => parseConfigText(text, '/etc/tlshd/config');

describe('[handshaked] psk_modes', () => {
  it('is unset by default (the engine then uses psk_dhe_ke only)', () => {
    expect(parse('[handshaked]\n').config.pskModes).toBeUndefined();
  });

  it('takes one mode or a ;-separated list, in order', () => {
    expect(parse('[handshaked]\npsk_modes=psk_ke\n').config.pskModes).toEqual(['psk_ke']);
    expect(parse('[handshaked]\npsk_modes=psk_dhe_ke;psk_ke\n').config.pskModes).toEqual(['psk_dhe_ke', 'psk_ke']);
    expect(parse('[handshaked]\npsk_modes=psk_dhe_ke;psk_ke\n').warnings).toEqual([]);
  });

  it('refuses unknown names, duplicates and an empty list with file:line', () => {
    expect(() => parse('[handshaked]\npsk_modes=psk_ecdhe\n')).toThrow(/config:2: psk_modes: unknown name "psk_ecdhe"; supported: psk_dhe_ke, psk_ke/);
    expect(() => parse('[handshaked]\npsk_modes=psk_ke;psk_ke\n')).toThrow(/psk_modes: psk_ke is listed twice/);
    expect(() => parse('[handshaked]\n\npsk_modes=\n')).toThrow(/config:3: psk_modes is empty/);
  });
});
