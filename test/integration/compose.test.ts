import { beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { buildProgram } from '../../src/cli/program.js';
import { loadConfig } from '../../src/config/load.js';
import { assertBindAllowed, dashboardAuthFromConfig } from '../../src/dashboard/auth.js';
import { type SyncConfig } from '../../src/config/schema.js';
import { ROOT } from '../helpers/cli.js';

/**
 * No Docker engine runs where these tests run, so docker-compose.yml and the Dockerfile are
 * checked statically: they parse, and everything they name exists — build contexts, CLI
 * commands and options, mounted files, volumes, files copied into the image — and the mounted
 * config validates with the environment the compose file gives the worker, once the user has
 * supplied the secrets it requires (it has no default for any of them).
 */

type Scalar = string | number | boolean | null;

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, Scalar> | string[];
  volumes?: Array<string | { type?: string; source?: string; target?: string }>;
  ports?: Array<string | number>;
  depends_on?: string[] | Record<string, { condition?: string }>;
  deploy?: { replicas?: number };
  healthcheck?: { test?: string | string[] };
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
const DOCKERFILE = path.join(ROOT, 'Dockerfile');
/** What the image runs when a service does not override its entrypoint. */
const IMAGE_ENTRYPOINT = ['node', 'dist/cli.js'];

/** A compose variable reference: `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `$VAR`. */
const VARIABLE = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/** Every string in a parsed YAML value (compose interpolates values, not keys). */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(strings);
  return [];
}

/** References to variables in `text`, `$$` escapes left out. */
function variables(text: string): Array<{ name: string; operator: string | undefined }> {
  const found: Array<{ name: string; operator: string | undefined }> = [];
  for (const match of text.replace(/\$\$/g, '').matchAll(VARIABLE)) {
    found.push({ name: (match[1] ?? match[4]) as string, operator: match[2] });
  }
  return found;
}

/**
 * What a user following the README puts in `.env`: the variables the compose file requires, with
 * freshly generated values (the dashboard password as `openssl rand -base64 18` makes it).
 */
const SUPPLIED: Readonly<Record<string, string>> = {
  USER_SYNC_DASHBOARD_PASSWORD: randomBytes(18).toString('base64'),
  ORDERS_WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
  BILLING_WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
};

/** The variables the compose file must refuse to run without: no usable default for a secret. */
const REQUIRED = Object.keys(SUPPLIED);

/** What compose says when a required variable is missing: `${VAR:?message}` or `${VAR?message}`. */
class MissingVariable extends Error {
  constructor(
    readonly variable: string,
    readonly hint: string,
  ) {
    super(`required variable ${variable} is missing a value: ${hint}`);
  }
}

/**
 * Compose's interpolation with `env` as the shell environment (by default what the README has
 * the user supply, so only those values and the file's defaults apply). Throws MissingVariable
 * as compose stops on `${VAR:?message}` when VAR is unset or empty.
 */
function interpolate(text: string, env: Readonly<Record<string, string>> = SUPPLIED): string {
  const placeholder = '\u0000';
  return text
    .replace(/\$\$/g, placeholder)
    .replace(
      VARIABLE,
      (_all, braced: string | undefined, operator: string | undefined, word: string = '', bare: string) => {
        const name = braced ?? bare;
        const value = env[name];
        if (operator === ':-') return value ? value : word;
        if (operator === '-') return value ?? word;
        if (operator === ':+') return value ? word : '';
        if (operator === '+') return value !== undefined ? word : '';
        if (operator === ':?') {
          if (!value) throw new MissingVariable(name, word);
          return value;
        }
        if (operator === '?') {
          if (value === undefined) throw new MissingVariable(name, word);
          return value;
        }
        return value ?? '';
      },
    )
    .replace(new RegExp(placeholder, 'g'), '$');
}

/** A `command` or `entrypoint` as its list of words. */
function words(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value.map(String) : value.trim().split(/\s+/);
}

/** A service's environment after interpolation, as the container sees it. */
function environment(service: ComposeService): Record<string, string> {
  const env: Record<string, string> = {};
  const raw = service.environment ?? {};
  const entries: Array<[string, Scalar]> = Array.isArray(raw)
    ? raw.map((line) => {
        const at = line.indexOf('=');
        return at < 0 ? [line, null] : [line.slice(0, at), line.slice(at + 1)];
      })
    : Object.entries(raw);
  for (const [key, value] of entries) if (value !== null) env[key] = interpolate(String(value));
  return env;
}

/** A service's build context and Dockerfile, absolute; undefined when it uses an image only. */
function buildOf(service: ComposeService): { context: string; dockerfile: string } | undefined {
  if (service.build === undefined) return undefined;
  const context = path.resolve(
    ROOT,
    typeof service.build === 'string' ? service.build : (service.build.context ?? '.'),
  );
  const dockerfile =
    typeof service.build === 'string' ? 'Dockerfile' : (service.build.dockerfile ?? 'Dockerfile');
  return { context, dockerfile: path.resolve(context, dockerfile) };
}

interface Mount {
  /** Host path (bind mount, absolute) or volume name. */
  source: string;
  target: string;
  bind: boolean;
}

function mounts(service: ComposeService): Mount[] {
  return (service.volumes ?? []).map((volume) => {
    if (typeof volume === 'string') {
      const [source = '', target = ''] = interpolate(volume).split(':');
      const bind = /^[./~]/.test(source);
      return { source: bind ? path.resolve(ROOT, source) : source, target, bind };
    }
    const bind = volume.type === 'bind';
    const source = interpolate(volume.source ?? '');
    return { source: bind ? path.resolve(ROOT, source) : source, target: volume.target ?? '', bind };
  });
}

/** The host file a service sees at `containerPath`, through its bind mounts. */
function hostPath(service: ComposeService, containerPath: string): string | undefined {
  for (const mount of mounts(service)) {
    if (!mount.bind) continue;
    if (containerPath === mount.target) return mount.source;
    if (containerPath.startsWith(`${mount.target}/`)) {
      return path.join(mount.source, containerPath.slice(mount.target.length + 1));
    }
  }
  return undefined;
}

/** Options of a command and of the program above it, e.g. `--config`, `-c`. */
function knownOptions(command: Command, program: Command): Set<string> {
  const known = new Set(['--help', '-h']);
  for (const owner of [command, program]) {
    for (const option of owner.options) {
      if (option.long) known.add(option.long);
      if (option.short) known.add(option.short);
      if (option.negate && option.long) known.add(option.long);
    }
  }
  return known;
}

/** What is wrong with `args` as a user-sync command line: empty when nothing. */
function checkCommandLine(args: string[], program: Command): string[] {
  const names = (parent: Command) => parent.commands.flatMap((c) => [c.name(), ...c.aliases()]);
  let command: Command = program;
  let rest = [...args];
  // Descend through subcommands: `dlq list …`.
  for (;;) {
    const word = rest[0];
    const next =
      word === undefined
        ? undefined
        : command.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!next) break;
    command = next;
    rest = rest.slice(1);
  }
  if (command === program) {
    return [`"${args[0] ?? ''}" is not a user-sync command (known: ${names(program).join(', ')})`];
  }
  const known = knownOptions(command, program);
  return rest
    .filter((word) => word.startsWith('-'))
    .map((word) => word.split('=')[0] as string)
    .filter((option) => !known.has(option))
    .map((option) => `"${option}" is not an option of \`user-sync ${command.name()}\``);
}

interface DockerInstruction {
  instruction: string;
  args: string;
  stage: number;
}

/** The Dockerfile's instructions, continuation lines joined and comments left out. */
function dockerInstructions(text: string): DockerInstruction[] {
  const joined = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  let stage = -1;
  const out: DockerInstruction[] = [];
  for (const line of joined.split('\n')) {
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const instruction = (match[1] as string).toUpperCase();
    if (instruction === 'FROM') stage++;
    out.push({ instruction, args: (match[2] as string).trim(), stage });
  }
  return out;
}

/** The words of an instruction's arguments, in exec (JSON) or shell form. */
function instructionWords(args: string): string[] {
  if (args.startsWith('[')) return JSON.parse(args) as string[];
  return args.split(/\s+/).filter(Boolean);
}

/** True when `.dockerignore` keeps `relative` (a path in the context) out of the build. */
function dockerIgnored(relative: string, patterns: string[]): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = path.posix.normalize((negate ? raw.slice(1) : raw).replace(/^\/+/, ''));
    const regex = new RegExp(
      '^' +
        pattern
          .split(/(\*\*|\*|\?)/)
          .map((part) =>
            part === '**'
              ? '.*'
              : part === '*'
                ? '[^/]*'
                : part === '?'
                  ? '[^/]'
                  : part.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
          )
          .join('') +
        '(/.*)?$',
    );
    if (regex.test(relative)) ignored = !negate;
  }
  return ignored;
}

describe('docker-compose.yml and Dockerfile', () => {
  let compose: ComposeFile;
  let services: Array<[string, ComposeService]>;
  let program: Command;
  let instructions: DockerInstruction[];
  let ignorePatterns: string[];

  beforeAll(() => {
    const parsed: unknown = parse(readFileSync(COMPOSE_FILE, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || !('services' in parsed)) {
      throw new Error('docker-compose.yml has no services');
    }
    compose = parsed as ComposeFile;
    services = Object.entries(compose.services);
    program = buildProgram();
    instructions = dockerInstructions(readFileSync(DOCKERFILE, 'utf8'));
    ignorePatterns = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
  });

  const service = (name: string): ComposeService => {
    const found = compose.services[name];
    if (!found) throw new Error(`docker-compose.yml has no "${name}" service`);
    return found;
  };

  it('has redis, worker, dashboard and the two sample services', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'billing',
      'dashboard',
      'orders',
      'redis',
      'worker',
    ]);
  });

  it('every service builds from an existing context with a Dockerfile, or names an image', () => {
    for (const [name, svc] of services) {
      const build = buildOf(svc);
      if (!build) {
        expect({ name, image: svc.image }).toEqual({ name, image: expect.stringMatching(/\S/) });
        continue;
      }
      expect({ name, context: existsSync(build.context) && statSync(build.context).isDirectory() }).toEqual({
        name,
        context: true,
      });
      expect({ name, dockerfile: existsSync(build.dockerfile) }).toEqual({ name, dockerfile: true });
    }
  });

  it('every command is a user-sync command with options it has', () => {
    const problems: string[] = [];
    for (const [name, svc] of services) {
      if (!buildOf(svc) || svc.entrypoint !== undefined) continue; // not the CLI
      for (const problem of checkCommandLine(
        words(svc.command).map((w) => interpolate(w)),
        program,
      )) {
        problems.push(`${name}: ${problem}`);
      }
    }
    // The image's own default command too.
    const cmd = instructions.filter((i) => i.instruction === 'CMD').at(-1);
    for (const problem of checkCommandLine(instructionWords(cmd?.args ?? '[]'), program)) {
      problems.push(`Dockerfile CMD: ${problem}`);
    }
    expect(problems).toEqual([]);
  });

  it("the image's entrypoint is the package's CLI", () => {
    const entrypoint = instructions.filter((i) => i.instruction === 'ENTRYPOINT').at(-1);
    expect(instructionWords(entrypoint?.args ?? '[]')).toEqual(IMAGE_ENTRYPOINT);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
    };
    expect(path.normalize(pkg.bin['user-sync'] ?? '')).toBe(path.normalize(IMAGE_ENTRYPOINT[1] as string));
    expect(existsSync(path.join(ROOT, 'src/cli.ts'))).toBe(true);
    const runtime = Math.max(...instructions.map((i) => i.stage));
    expect(
      instructions.some(
        (i) => i.instruction === 'USER' && i.stage === runtime && !/^(root|0)\b/.test(i.args),
      ),
    ).toBe(true);
  });

  it('services that override the entrypoint run a script the image contains, listening on all interfaces', () => {
    const copied = instructions
      .filter((i) => i.instruction === 'COPY' && !/--from=/.test(i.args))
      .flatMap((i) =>
        instructionWords(i.args)
          .filter((w) => !w.startsWith('--'))
          .slice(0, -1),
      );
    const overriding = services.filter(([, svc]) => svc.entrypoint !== undefined);
    expect(overriding.map(([name]) => name).sort()).toEqual(['billing', 'orders']);
    for (const [name, svc] of overriding) {
      const [runtime, script = ''] = words(svc.entrypoint);
      expect({ name, runtime }).toEqual({ name, runtime: 'node' });
      expect({ name, script, exists: existsSync(path.join(ROOT, script)) }).toEqual({
        name,
        script,
        exists: true,
      });
      const inImage = copied.some((source) => {
        const normal = path.posix.normalize(source).replace(/\/$/, '');
        return normal === '.' || script === normal || script.startsWith(`${normal}/`);
      });
      expect({ name, script, inImage }).toEqual({ name, script, inImage: true });
      const env = environment(svc);
      expect({ name, HOST: env.HOST }).toEqual({ name, HOST: '0.0.0.0' });
      expect(env.PORT).toMatch(/^\d+$/);
      expect(env.WEBHOOK_SECRET).toMatch(/^whsec_/);
      // The script must honour HOST, or it listens on 127.0.0.1 inside its container.
      expect(readFileSync(path.join(ROOT, script), 'utf8')).toContain('process.env.HOST');
    }
  });

  it('every mounted host path exists and every named volume is declared', () => {
    const declared = Object.keys(compose.volumes ?? {});
    for (const [name, svc] of services) {
      for (const mount of mounts(svc)) {
        if (mount.bind) {
          expect({ name, source: mount.source, exists: existsSync(mount.source) }).toEqual({
            name,
            source: mount.source,
            exists: true,
          });
        } else {
          expect(declared).toContain(mount.source);
        }
      }
    }
  });

  it('every ${VAR} has a default or is documented in the README', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const found = strings(compose).flatMap(variables);
    expect(found.length).toBeGreaterThan(0);
    for (const { name, operator } of found) {
      const hasDefault = operator === ':-' || operator === '-';
      expect({ name, ok: hasDefault || readme.includes(name) }).toEqual({ name, ok: true });
    }
  });

  it('redis runs with AOF and noeviction, on a volume, with a health check', () => {
    const redis = service('redis');
    expect(redis.image).toMatch(/^redis:7/);
    const command = words(redis.command).join(' ');
    expect(command).toMatch(/--appendonly yes\b/);
    expect(command).toMatch(/--maxmemory-policy noeviction\b/);
    const data = mounts(redis).find((m) => m.target === '/data');
    expect(data).toMatchObject({ bind: false });
    expect(words(redis.healthcheck?.test).join(' ')).toMatch(/redis-cli ping/);
  });

  it('worker runs 3 replicas against the redis service, once it is healthy', () => {
    const worker = service('worker');
    expect(worker.deploy?.replicas).toBe(3);
    expect(environment(worker).REDIS_URL).toBe('redis://redis:6379');
    expect(worker.depends_on).toMatchObject({ redis: { condition: 'service_healthy' } });
  });

  it('dashboard publishes the port it listens on to 127.0.0.1 only, unless told otherwise', () => {
    const dashboard = service('dashboard');
    const command = words(dashboard.command);
    const port = command[command.indexOf('--port') + 1];
    expect(command).toEqual(expect.arrayContaining(['dashboard', '--host', '0.0.0.0', '--port']));
    const published = (env: Record<string, string>) =>
      (dashboard.ports ?? []).map((p) => interpolate(String(p), { ...SUPPLIED, ...env }));
    expect(published({})).toEqual([`127.0.0.1:${port ?? ''}:${port ?? ''}`]);
    expect(published({ USER_SYNC_DASHBOARD_PUBLISH: '0.0.0.0:8443' })).toEqual([
      `0.0.0.0:8443:${port ?? ''}`,
    ]);
    const vars = strings(dashboard.environment)
      .flatMap(variables)
      .map((v) => v.name);
    expect(vars).toEqual(
      expect.arrayContaining(['USER_SYNC_DASHBOARD_USERNAME', 'USER_SYNC_DASHBOARD_PASSWORD']),
    );
  });

  it('stops, naming the variable to set, without the dashboard password or either signing secret', () => {
    const text = readFileSync(COMPOSE_FILE, 'utf8');
    expect(() => interpolate(text)).not.toThrow();
    for (const name of REQUIRED) {
      for (const missing of [{}, { [name]: '' }]) {
        const env = { ...SUPPLIED, ...missing };
        if (!(name in missing)) delete (env as Record<string, string>)[name];
        let error: unknown;
        try {
          interpolate(text, env);
        } catch (caught) {
          error = caught;
        }
        expect({ name, missing: error instanceof MissingVariable ? error.variable : error }).toEqual({
          name,
          missing: name,
        });
        expect((error as MissingVariable).hint).toMatch(new RegExp(`^set ${name} \\(.+\\) in \\.env$`));
      }
    }
    // Every reference to a secret is required, none has a default; no secret is written in the file.
    const secrets = strings(compose)
      .flatMap(variables)
      .filter((v) => REQUIRED.includes(v.name));
    expect(secrets.length).toBeGreaterThanOrEqual(REQUIRED.length);
    for (const { name, operator } of secrets) expect({ name, operator }).toEqual({ name, operator: ':?' });
    expect(text).not.toMatch(/whsec_[A-Za-z0-9+/]{8,}/);
    expect(text).not.toMatch(/change-?me/i);
  });

  it('every file the Dockerfile copies from the context exists and is not in .dockerignore', () => {
    expect(ignorePatterns).toEqual(
      expect.arrayContaining(['node_modules', 'dist', '.redis', '.git', 'coverage', 'dist-bench']),
    );
    const copies = instructions.filter((i) => i.instruction === 'COPY' || i.instruction === 'ADD');
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      if (/--from=/.test(copy.args)) continue;
      const sources = instructionWords(copy.args)
        .filter((w) => !w.startsWith('--'))
        .slice(0, -1);
      for (const source of sources) {
        const relative = path.posix.normalize(source).replace(/\/$/, '');
        expect({ source, exists: existsSync(path.join(ROOT, relative)) }).toEqual({ source, exists: true });
        expect({ source, ignored: dockerIgnored(relative, ignorePatterns) }).toEqual({
          source,
          ignored: false,
        });
      }
    }
    // The build stage builds, the runtime stage installs production dependencies only.
    const runs = instructions.filter((i) => i.instruction === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /npm ci\b/.test(r) && !/--omit=dev/.test(r))).toBe(true);
    expect(runs.some((r) => /npm run build\b/.test(r))).toBe(true);
    expect(runs.some((r) => /npm ci\b.*--omit=dev/.test(r))).toBe(true);
  });

  describe('the mounted config', () => {
    /** The config a service loads: the file its `--config` or USER_SYNC_CONFIG names, through its mounts, with its env. */
    const configOf = (name: string): SyncConfig => {
      const svc = service(name);
      const env = environment(svc);
      const command = words(svc.command);
      const at = command.indexOf('--config');
      const inContainer = at >= 0 ? command[at + 1] : env.USER_SYNC_CONFIG;
      expect({ name, config: inContainer }).toEqual({ name, config: expect.stringMatching(/^\//) });
      const file = hostPath(svc, inContainer as string);
      expect({ name, file, exists: file !== undefined && existsSync(file) }).toEqual({
        name,
        file,
        exists: true,
      });
      return loadConfig({ file: file as string, env });
    };

    it("validates with the worker's environment, and its targets are the compose services", () => {
      const config = configOf('worker');
      expect(config.redisUrl).toBe('redis://redis:6379');
      expect(config.targets.map((t) => t.service).sort()).toEqual(['billing', 'cache', 'orders']);
      for (const target of config.targets) {
        const url = new URL(target.url ?? '');
        const receiver = service(url.hostname);
        if (target.kind === 'redis') {
          expect(receiver.image).toMatch(/^redis:/);
          continue;
        }
        // The sample service listens on the target's port and verifies with the worker's secret.
        const env = environment(receiver);
        expect({ target: target.service, port: url.port }).toEqual({
          target: target.service,
          port: env.PORT,
        });
        expect(target.secrets).toContain(env.WEBHOOK_SECRET);
      }
    });

    it("validates with the dashboard's environment, credentials included, and would serve on 0.0.0.0", () => {
      const config = configOf('dashboard');
      expect(config.redisUrl).toBe('redis://redis:6379');
      expect(config.dashboard.username).toBe('admin');
      expect(config.dashboard.password).toBe(SUPPLIED.USER_SYNC_DASHBOARD_PASSWORD);
      const command = words(service('dashboard').command);
      const host = command[command.indexOf('--host') + 1] as string;
      const auth = dashboardAuthFromConfig({ ...config.dashboard, host }, { insecureLocal: false });
      expect(() => assertBindAllowed(auth, host)).not.toThrow();
      // The old default would now be refused there.
      expect(() => assertBindAllowed({ username: 'admin', password: 'change-me-now' }, host)).toThrow(
        /dashboard\.password: is a well-known placeholder/,
      );
    });
  });
});
