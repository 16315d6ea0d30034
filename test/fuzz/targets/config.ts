/**
 * Configuration fuzz target: the tlshd-format key file parser and the agent's interpretation of
 * every section and key. A bad file must be a ConfigError naming file and line, nothing else.
 */
import { ConfigError, parseConfigText } from '../../../src/agent/config';
import { expectOnly, type FuzzTarget } from './common';

export const config: FuzzTarget = {
  name: 'config',
  about: 'the configuration file (/etc/tlshd/config), tlshd key-file syntax',
  fuzz(data) {
    expectOnly(this.name, [ConfigError], () => parseConfigText(data.toString('utf8'), 'fuzz.conf'));
  },
};
