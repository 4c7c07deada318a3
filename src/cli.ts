import { parseArgs } from 'node:util';
import { ROLES, USER_STATUSES, type Role } from '../drizzle/schema';
import { createApplication, createOperator, setApprovalPolicy } from './auth/accounts';
import { getConfig, type Config } from './config';
import { createDatabase, type Db } from './db/client';
import { isUuid } from './db/ids';
import { DomainError } from './errors';
import { pauseImport, resumeImport, retryImport, throttleImport, type ImportServiceDeps } from './imports/service';
import { createStorage } from './storage';
import { connectTemporalClient } from './temporal/client';
import { presentUser, recordApprovedSession } from './users/queries';
import { CHUNK_CONCURRENCY_MAX, CHUNK_CONCURRENCY_MIN } from '../workflows/import-definitions';

/**
 * `npm run cli -- <command>`: prints one JSON object on stdout and exits 0, or prints an error on stderr and
 * exits non-zero. Uses the same configuration (DATABASE_URL, ...) as the service.
 */

interface CommandContext {
  db: Db;
  config: Config;
  args: string[];
}
type Command = (ctx: CommandContext) => Promise<unknown>;

class UsageError extends Error {}

function options<T extends Record<string, { type: 'string' }>>(args: string[], spec: T, required: (keyof T)[]) {
  const parsed = parseArgs({ args, options: spec, allowPositionals: true, strict: true });
  const values = parsed.values as Record<string, string | undefined>;
  for (const name of required) {
    const value = values[name as string];
    if (value === undefined || value.trim() === '') {
      throw new UsageError(`--${String(name)} is required`);
    }
  }
  return { values: values as { [K in keyof T]?: string }, positionals: parsed.positionals };
}

const commands: Record<string, Command> = {
  'applications create': async ({ db, args }) => {
    const { values } = options(args, { name: { type: 'string' } }, ['name']);
    return createApplication(db, { name: values.name! });
  },
  'applications set': async ({ db, args }) => {
    const { values } = options(
      args,
      { application: { type: 'string' }, 'approval-updates-over': { type: 'string' }, 'approval-statuses': { type: 'string' } },
      ['application'],
    );
    if (!isUuid(values.application!)) throw new UsageError('--application must be an application id (UUID)');
    const over = values['approval-updates-over'];
    let updatesOver: number | null | undefined;
    if (over !== undefined) {
      if (over.trim() === '' || over.trim().toLowerCase() === 'none') updatesOver = null;
      else if (/^\d{1,9}$/.test(over.trim())) updatesOver = Number(over.trim());
      else throw new UsageError('--approval-updates-over must be a whole number (or "none" to clear it)');
    }
    const given = values['approval-statuses'];
    let statuses: string[] | null | undefined;
    if (given !== undefined) {
      const list = given.split(',').map((v) => v.trim().toUpperCase()).filter((v) => v !== '' && v !== 'NONE');
      const unknown = list.filter((v) => !(USER_STATUSES as readonly string[]).includes(v));
      if (unknown.length > 0) throw new UsageError(`--approval-statuses takes ${USER_STATUSES.join(', ')}; not ${unknown.join(', ')}`);
      statuses = list.length > 0 ? [...new Set(list)] : null;
    }
    return setApprovalPolicy(db, { applicationId: values.application!, updatesOver, statuses });
  },
  'operators create': async ({ db, args }) => {
    const { values } = options(
      args,
      { application: { type: 'string' }, email: { type: 'string' }, role: { type: 'string' } },
      ['application', 'email', 'role'],
    );
    const role = values.role!.toUpperCase() as Role;
    if (!ROLES.includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
    if (!isUuid(values.application!)) throw new UsageError('--application must be an application id (UUID)');
    return createOperator(db, { applicationId: values.application!, email: values.email!, role });
  },
  'users record-approved-session': async ({ db, args }) => {
    const { values } = options(
      args,
      {
        application: { type: 'string' },
        'vendor-data': { type: 'string' },
        'full-name': { type: 'string' },
        'date-of-birth': { type: 'string' },
      },
      ['application', 'vendor-data'],
    );
    if (!isUuid(values.application!)) throw new UsageError('--application must be an application id (UUID)');
    const user = await recordApprovedSession(db, {
      applicationId: values.application!,
      vendorData: values['vendor-data']!,
      fullName: values['full-name'],
      dateOfBirth: values['date-of-birth'],
    });
    return presentUser(user);
  },
  'imports retry': async ({ db, config, args }) => {
    const { positionals } = options(args, {}, []);
    const id = importIdOf(positionals, 'imports retry <import id>');
    return withService(db, config, (service) => retryImport(service, { id }));
  },
  'imports pause': async ({ db, config, args }) => {
    const { positionals } = options(args, {}, []);
    const id = importIdOf(positionals, 'imports pause <import id>');
    return withService(db, config, (service) => pauseImport(service, { id }));
  },
  'imports resume': async ({ db, config, args }) => {
    const { positionals } = options(args, {}, []);
    const id = importIdOf(positionals, 'imports resume <import id>');
    return withService(db, config, (service) => resumeImport(service, { id }));
  },
  'imports throttle': async ({ db, config, args }) => {
    const { values, positionals } = options(args, { concurrency: { type: 'string' } }, ['concurrency']);
    const id = importIdOf(positionals, 'imports throttle <import id> --concurrency <N>');
    const chunkConcurrency = Number(values.concurrency);
    if (!/^\d+$/.test(values.concurrency!.trim()) || chunkConcurrency < CHUNK_CONCURRENCY_MIN || chunkConcurrency > CHUNK_CONCURRENCY_MAX) {
      throw new UsageError(`--concurrency must be a whole number from ${CHUNK_CONCURRENCY_MIN} to ${CHUNK_CONCURRENCY_MAX}`);
    }
    return withService(db, config, (service) => throttleImport(service, { id, chunkConcurrency }));
  },
};

function importIdOf(positionals: string[], usageLine: string): string {
  const id = positionals[0];
  if (!id || !isUuid(id) || positionals.length > 1) throw new UsageError(`usage: ${usageLine}`);
  return id;
}

/** The import service with a Temporal client for the length of one command (on-call works across applications). */
async function withService<T>(db: Db, config: Config, work: (service: ImportServiceDeps) => Promise<T>): Promise<T> {
  const temporal = await connectTemporalClient(config);
  try {
    return await work({ db, config, temporal: temporal.client, storage: createStorage(config) });
  } finally {
    await temporal.close();
  }
}

function usage(): string {
  return `usage: npm run cli -- <command> [options]\ncommands:\n${Object.keys(commands)
    .map((name) => `  ${name}`)
    .join('\n')}\n`;
}

async function run(argv: string[]): Promise<number> {
  const name = argv.slice(0, 2).join(' ');
  const command = commands[name];
  if (!command) {
    process.stderr.write(`unknown command "${name}"\n${usage()}`);
    return 2;
  }
  const config = getConfig();
  if (!config.database.url) {
    process.stderr.write('DATABASE_URL is not set (npm start writes it to .data/; see the README)\n');
    return 2;
  }
  const database = createDatabase(config.database.url, { poolSize: 2, applicationName: 'kyc-cli' });
  try {
    const result = await command({ db: database.db, config, args: argv.slice(2) });
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof DomainError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const code = err instanceof DomainError ? err.code : 'usage';
      process.stderr.write(`${JSON.stringify({ error: { code, message: (err as Error).message } })}\n`);
      return 2;
    }
    throw err;
  } finally {
    await database.close();
  }
}

run(process.argv.slice(2))
  .then((code) => process.exit(code))
  .catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
