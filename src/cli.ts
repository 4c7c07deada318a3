import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { ROLES, USER_STATUSES, type Role } from '../drizzle/schema';
import { CLI_ACTOR, createApplication, createOperator, setApprovalPolicy } from './auth/accounts';
import { ConfigError, loadCliConfig, type Config } from './config';
import { createDatabase, type Db } from './db/client';
import { isUuid } from './db/ids';
import { DomainError } from './errors';
import { presentExport } from './exports/present';
import { retryExport } from './exports/service';
import { pauseImport, resumeImport, retryImport, throttleImport, undoImport, type ImportServiceDeps } from './imports/service';
import { showExport, showImport, stuckImports } from './oncall';
import { createStorage } from './storage';
import { connectTemporalClient, type TemporalClient } from './temporal/client';
import { presentUser, recordApprovedSession } from './users/queries';
import { CHUNK_CONCURRENCY_MAX, CHUNK_CONCURRENCY_MIN } from '../workflows/import-definitions';

/**
 * `npm run cli -- <command>`: prints one JSON object on stdout and exits 0, or prints an error on stderr (JSON with a
 * code) and exits non-zero. Uses the same configuration (DATABASE_URL, TEMPORAL_ADDRESS, ...) as the service; where
 * those are unset, what `npm start` left in `<DATA_DIR>/cli.json` (config.ts, loadCliConfig). The CLI acts as no
 * operator: the service functions get CLI_ACTOR (auth/accounts.ts), recorded as `cli` in audit entries.
 */

interface CommandContext {
  db: Db;
  config: Config;
  args: string[];
  /** The Temporal client, connected on first use and closed when the command ends. */
  temporal: () => Promise<Client>;
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
  'imports show': async ({ db, args, temporal }) => {
    const { positionals } = options(args, {}, []);
    return showImport({ db, temporal }, importIdOf(positionals, 'imports show <import id>'));
  },
  'imports stuck': async ({ db, args, temporal }) => {
    const { values, positionals } = options(args, { minutes: { type: 'string' }, application: { type: 'string' } }, []);
    if (positionals.length > 0) throw new UsageError('usage: imports stuck [--minutes N] [--application <id>]');
    const given = values.minutes?.trim() ?? '10';
    if (!/^\d{1,6}(\.\d+)?$/.test(given)) throw new UsageError('--minutes must be a number of minutes (0 or more)');
    if (values.application !== undefined && !isUuid(values.application)) throw new UsageError('--application must be an application id (UUID)');
    return stuckImports({ db, temporal }, { minutes: Number(given), applicationId: values.application });
  },
  'imports retry': async (ctx) => {
    const { positionals } = options(ctx.args, {}, []);
    const id = importIdOf(positionals, 'imports retry <import id>');
    return withService(ctx, (service) => retryImport(service, { id }));
  },
  'imports undo': async (ctx) => {
    const { positionals } = options(ctx.args, {}, []);
    const id = importIdOf(positionals, 'imports undo <import id>');
    return withService(ctx, (service) => undoImport(service, { id, actor: CLI_ACTOR }));
  },
  'imports pause': async (ctx) => {
    const { positionals } = options(ctx.args, {}, []);
    const id = importIdOf(positionals, 'imports pause <import id>');
    return withService(ctx, (service) => pauseImport(service, { id }));
  },
  'imports resume': async (ctx) => {
    const { positionals } = options(ctx.args, {}, []);
    const id = importIdOf(positionals, 'imports resume <import id>');
    return withService(ctx, (service) => resumeImport(service, { id }));
  },
  'exports show': async ({ db, args, temporal }) => {
    const { positionals } = options(args, {}, []);
    return showExport({ db, temporal }, idOf(positionals, 'exports show <export id>'));
  },
  'exports retry': async ({ db, config, args, temporal }) => {
    const { positionals } = options(args, {}, []);
    const id = idOf(positionals, 'exports retry <export id>');
    // The export object as the API presents it, without a download link (the CLI is not the requester).
    return presentExport(await retryExport({ db, config, temporal: await temporal() }, CLI_ACTOR, id), null);
  },
  'imports throttle': async (ctx) => {
    const { args } = ctx;
    const { values, positionals } = options(args, { concurrency: { type: 'string' } }, ['concurrency']);
    const id = importIdOf(positionals, 'imports throttle <import id> --concurrency <N>');
    const chunkConcurrency = Number(values.concurrency);
    if (!/^\d+$/.test(values.concurrency!.trim()) || chunkConcurrency < CHUNK_CONCURRENCY_MIN || chunkConcurrency > CHUNK_CONCURRENCY_MAX) {
      throw new UsageError(`--concurrency must be a whole number from ${CHUNK_CONCURRENCY_MIN} to ${CHUNK_CONCURRENCY_MAX}`);
    }
    return withService(ctx, (service) => throttleImport(service, { id, chunkConcurrency }));
  },
};

function idOf(positionals: string[], usageLine: string): string {
  const id = positionals[0];
  if (!id || !isUuid(id) || positionals.length > 1) throw new UsageError(`usage: ${usageLine}`);
  return id;
}
const importIdOf = idOf;

/** The import service with the command's Temporal client (on-call works across applications). */
async function withService<T>(ctx: CommandContext, work: (service: ImportServiceDeps) => Promise<T>): Promise<T> {
  return work({ db: ctx.db, config: ctx.config, temporal: await ctx.temporal(), storage: createStorage(ctx.config) });
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
  let config: Config;
  try {
    config = loadCliConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${JSON.stringify({ error: { code: 'not_configured', message: err.message } })}\n`);
    return 2;
  }
  const database = createDatabase(config.database.url!, { poolSize: 2, applicationName: 'kyc-cli' });
  let connected: Promise<TemporalClient> | undefined;
  const temporal = async () => (await (connected ??= connectTemporalClient(config))).client;
  try {
    const result = await command({ db: database.db, config, args: argv.slice(2), temporal });
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
    await connected?.then((c) => c.close()).catch(() => undefined);
    await database.close();
  }
}

run(process.argv.slice(2))
  .then((code) => process.exit(code))
  .catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
