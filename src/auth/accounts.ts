import { eq } from 'drizzle-orm';
import { applications, operators, type Role } from '../../drizzle/schema';
import type { Queryable } from '../db/client';
import { DomainError } from '../errors';
import { isUuid } from '../db/ids';
import { rules } from '../users/fields';
import { hashSecret, newSecret } from './tokens';

export interface Operator {
  id: string;
  applicationId: string;
  email: string;
  role: Role;
}

/**
 * Who acts when no operator does: the on-call CLI (`npm run cli`), which works across applications. A service
 * function that takes an `Operator | SystemActor` skips the role checks for it (whoever runs the CLI has the
 * database) and records it where it would record the operator: no operator id, and `actor: "cli"` in the audit
 * entry's details (and `imports.undo_requested_actor`).
 */
export const CLI_ACTOR = { system: 'cli' } as const;
export type SystemActor = typeof CLI_ACTOR;

export function isSystemActor(actor: Operator | SystemActor): actor is SystemActor {
  return 'system' in actor;
}

/** Creates an application; its API key is returned here once and stored only hashed. */
export async function createApplication(db: Queryable, params: { name: string }) {
  const name = params.name.trim();
  if (name === '') throw new DomainError('invalid', 'invalid_argument', 'the application name is empty');
  const apiKey = newSecret('kyc_ak');
  const [row] = await db
    .insert(applications)
    .values({ name, apiKeyHash: hashSecret(apiKey) })
    .returning({ id: applications.id, name: applications.name });
  return { id: row.id, name: row.name, api_key: apiKey };
}

/**
 * Sets an application's import approval policy (API.md "Controlling imports"); a value left undefined is kept, null
 * clears it. Returns the application with its policy.
 */
export async function setApprovalPolicy(
  db: Queryable,
  params: { applicationId: string; updatesOver?: number | null; statuses?: string[] | null },
) {
  const set: { approvalUpdatesOver?: number | null; approvalStatuses?: string[] | null } = {};
  if (params.updatesOver !== undefined) set.approvalUpdatesOver = params.updatesOver;
  if (params.statuses !== undefined) set.approvalStatuses = params.statuses;
  const columns = {
    id: applications.id,
    name: applications.name,
    updatesOver: applications.approvalUpdatesOver,
    statuses: applications.approvalStatuses,
  };
  const [row] =
    Object.keys(set).length > 0
      ? await db.update(applications).set(set).where(eq(applications.id, params.applicationId)).returning(columns)
      : await db.select(columns).from(applications).where(eq(applications.id, params.applicationId));
  if (!row) throw new DomainError('not_found', 'not_found', 'application not found');
  return { id: row.id, name: row.name, approval: { updates_over: row.updatesOver, statuses: row.statuses ?? [] } };
}

/** Throws not_found unless the application exists (an id that is no UUID included). */
export async function requireApplication(db: Queryable, params: { applicationId: string }): Promise<void> {
  const [application] = isUuid(params.applicationId)
    ? await db.select({ id: applications.id }).from(applications).where(eq(applications.id, params.applicationId))
    : [];
  if (!application) throw new DomainError('not_found', 'not_found', 'application not found');
}

/** Creates an operator of an application; the bearer token is returned here once and stored only hashed. */
export async function createOperator(db: Queryable, params: { applicationId: string; email: string; role: Role }) {
  await requireApplication(db, params);
  const email = rules.email(params.email.trim());
  if (!email.ok) throw new DomainError('invalid', 'invalid_field', `the operator's email: ${email.error.message}`);
  const token = newSecret('kyc_op');
  const [row] = await db
    .insert(operators)
    .values({ applicationId: params.applicationId, email: email.value, role: params.role, tokenHash: hashSecret(token) })
    .onConflictDoNothing()
    .returning({ id: operators.id, email: operators.email, role: operators.role });
  if (!row) throw new DomainError('conflict', 'operator_exists', 'an operator with this email exists in the application');
  return { id: row.id, email: row.email, role: row.role, token };
}

/** The operator a bearer token belongs to, or undefined. */
export async function findOperatorByToken(db: Queryable, token: string): Promise<Operator | undefined> {
  const [row] = await db
    .select({ id: operators.id, applicationId: operators.applicationId, email: operators.email, role: operators.role })
    .from(operators)
    .where(eq(operators.tokenHash, hashSecret(token)));
  return row;
}

/** The application an API key belongs to, or undefined. */
export async function findApplicationByApiKey(db: Queryable, apiKey: string): Promise<{ id: string } | undefined> {
  const [row] = await db
    .select({ id: applications.id })
    .from(applications)
    .where(eq(applications.apiKeyHash, hashSecret(apiKey)));
  return row;
}
