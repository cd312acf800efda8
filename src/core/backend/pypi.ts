// Finds a wheel on a Python package index (PEP 691 JSON, or the PEP 503 HTML page a mirror may
// serve) and downloads it with its sha256 checked. No pip and no Python: the extension runs this
// on machines that have neither. The index is PyPI unless LORA_LAB_PYPI_INDEX or PIP_INDEX_URL
// names a mirror (pip's own variable, so a machine set up for pip works as it is).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import type { WheelRecord } from './nativeLayout';

export const DEFAULT_INDEX = 'https://pypi.org/simple';

export function indexUrl(env: NodeJS.ProcessEnv = process.env): string {
  return (env.LORA_LAB_PYPI_INDEX || env.PIP_INDEX_URL || DEFAULT_INDEX).replace(/\/+$/, '');
}

/** PEP 503 project names: lower case, runs of -_. as one '-'. */
export function normalizeProject(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/** The wheel file name for CPython 3.11 on manylinux x86_64 (any Python tag works: the C libraries are the same). */
export function linuxWheelName(project: string, version: string, platformTag: string): string {
  return `${project.replace(/-/g, '_')}-${version}-${platformTag}.whl`;
}

interface IndexFile {
  filename: string;
  url: string;
  sha256?: string;
  size?: number;
}

/**
 * Looks `project` up on the index and returns the first file whose name `pick` accepts (in the
 * order given by `pick`'s preference list), with its sha256 from the index.
 */
export async function findWheel(project: string, version: string, preferred: string[], env: NodeJS.ProcessEnv = process.env, signal?: AbortSignal): Promise<WheelRecord> {
  const index = indexUrl(env);
  const pageUrl = `${index}/${normalizeProject(project)}/`;
  let res: Response;
  try {
    res = await fetch(pageUrl, { headers: { Accept: 'application/vnd.pypi.simple.v1+json, text/html;q=0.1' }, signal });
  } catch (e) {
    throw new Error(`Cannot reach the package index ${index} for ${project}: ${causeText(e)}. Check the network or set PIP_INDEX_URL / LORA_LAB_PYPI_INDEX to a mirror.`);
  }
  if (!res.ok) throw new Error(`The package index ${index} answered ${res.status} ${res.statusText} for ${pageUrl}`);
  const body = await res.text();
  const files = (res.headers.get('content-type') ?? '').includes('json') ? parseJsonIndex(body, pageUrl) : parseHtmlIndex(body, pageUrl);
  for (const name of preferred) {
    const f = files.find((x) => x.filename === name);
    if (!f) continue;
    if (!f.sha256) throw new Error(`The index ${index} gives no sha256 for ${name}: refusing to download an unverifiable library`);
    return { project, version, filename: f.filename, sha256: f.sha256, size: f.size ?? 0, url: f.url };
  }
  const near = files.filter((f) => f.filename.includes(`-${version}-`)).map((f) => f.filename);
  throw new Error(`${project} ${version}: none of ${preferred.join(', ')} is on ${index}${near.length ? ` (it has ${near.slice(0, 6).join(', ')})` : ''}`);
}

function parseJsonIndex(body: string, base: string): IndexFile[] {
  const doc = JSON.parse(body) as { files?: Array<{ filename?: unknown; url?: unknown; hashes?: { sha256?: unknown }; size?: unknown }> };
  const out: IndexFile[] = [];
  for (const f of doc.files ?? []) {
    if (typeof f.filename !== 'string' || typeof f.url !== 'string') continue;
    out.push({
      filename: f.filename,
      url: new URL(f.url, base).href,
      ...(typeof f.hashes?.sha256 === 'string' ? { sha256: f.hashes.sha256 } : {}),
      ...(typeof f.size === 'number' ? { size: f.size } : {}),
    });
  }
  return out;
}

function parseHtmlIndex(body: string, base: string): IndexFile[] {
  const out: IndexFile[] = [];
  for (const m of body.matchAll(/<a\s[^>]*href="([^"]+)"[^>]*>([^<]+)<\/a>/gi)) {
    const href = m[1].replace(/&amp;/g, '&');
    const url = new URL(href, base);
    const sha = /(?:^|&)sha256=([0-9a-f]{64})/i.exec(url.hash.slice(1))?.[1];
    url.hash = '';
    out.push({ filename: m[2].trim(), url: url.href, ...(sha ? { sha256: sha.toLowerCase() } : {}) });
  }
  return out;
}

export interface DownloadProgress {
  file: string;
  received: number;
  total: number;
}

/**
 * Downloads `wheel` into `dir` (reusing a file already there whose sha256 matches) and returns its
 * path. Written to `<name>.part` and renamed only after the hash matched, so a cancelled or broken
 * download never leaves a file that looks complete.
 */
export async function downloadWheel(wheel: WheelRecord, dir: string, onProgress?: (p: DownloadProgress) => void, signal?: AbortSignal): Promise<{ file: string; reused: boolean }> {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, wheel.filename);
  if (fs.existsSync(file)) {
    if ((await sha256File(file)) === wheel.sha256) return { file, reused: true };
    fs.rmSync(file);
  }
  let res: Response;
  try {
    res = await fetch(wheel.url, { signal });
  } catch (e) {
    throw new Error(`Download of ${wheel.filename} failed: ${causeText(e)}`);
  }
  if (!res.ok || !res.body) throw new Error(`Download of ${wheel.filename} failed: ${res.status} ${res.statusText} (${wheel.url})`);
  const total = Number(res.headers.get('content-length')) || wheel.size;
  const part = `${file}.part`;
  const hash = createHash('sha256');
  const out = fs.createWriteStream(part);
  let received = 0;
  let lastReport = 0;
  try {
    for await (const chunk of Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>)) {
      const buf = chunk as Buffer;
      hash.update(buf);
      received += buf.length;
      if (!out.write(buf)) await new Promise<void>((r) => out.once('drain', () => r()));
      const now = Date.now();
      if (onProgress && now - lastReport > 500) {
        lastReport = now;
        onProgress({ file: wheel.filename, received, total });
      }
    }
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  } catch (e) {
    out.destroy();
    fs.rmSync(part, { force: true });
    if (signal?.aborted) throw new Error(`Download of ${wheel.filename} cancelled`);
    throw new Error(`Download of ${wheel.filename} failed after ${(received / 1e6).toFixed(0)} MB: ${causeText(e)}`);
  }
  onProgress?.({ file: wheel.filename, received, total });
  const got = hash.digest('hex');
  if (got !== wheel.sha256) {
    fs.rmSync(part, { force: true });
    throw new Error(`${wheel.filename}: sha256 ${got} does not match the index's ${wheel.sha256}; the download was corrupted or tampered with (nothing kept)`);
  }
  fs.renameSync(part, file);
  return { file, reused: false };
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    fs.createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

function causeText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as { cause?: unknown }).cause;
  return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
}
