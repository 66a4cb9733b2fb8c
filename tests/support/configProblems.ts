// What loadConfig refuses in an environment: the problems it names, each naming its variable.
import { ConfigError, loadConfig } from '../../src/config';

export function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the configuration to be refused');
}
