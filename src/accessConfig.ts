// The two list-valued variables of the environment, ROLES and API_TOKENS, part of config.ts's schema.
import { z } from 'zod';
import { emptyAsUndefined } from './emptyAsUndefined';

export const ROLE_NAMES = ['api', 'projector', 'timer'] as const;
export type Role = (typeof ROLE_NAMES)[number];
const SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];
export interface ApiToken {
  name: string;
  token: string;
  scope: Scope;
}

export const roles = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .default(ROLE_NAMES.join(','))
    .transform((value, ctx) => {
      const names = value.split(',').map((name) => name.trim()).filter(Boolean);
      const unknown = names.filter((name) => !(ROLE_NAMES as readonly string[]).includes(name));
      if (unknown.length > 0 || names.length === 0) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          message: `expected a comma-separated list of ${ROLE_NAMES.join(', ')}; got "${value}"`,
        });
        return z.NEVER;
      }
      return new Set(names as Role[]);
    }),
);

export const apiTokens = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .optional()
    .transform((value, ctx): ApiToken[] => {
      if (value === undefined) return [];
      const tokens: ApiToken[] = [];
      for (const entry of value.split(',').map((item) => item.trim()).filter(Boolean)) {
        const [name, token, scope, ...rest] = entry.split(':');
        if (!name || !token || !scope || rest.length > 0 || !(SCOPES as readonly string[]).includes(scope)) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            message: `each entry must be name:token:scope with scope one of ${SCOPES.join(', ')}; got "${entry.split(':')[0]}:…"`,
          });
          return z.NEVER;
        }
        if (token.length < 16) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: `the token of "${name}" is shorter than 16 characters` });
          return z.NEVER;
        }
        tokens.push({ name, token, scope: scope as Scope });
      }
      return tokens;
    }),
);
