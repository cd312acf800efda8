// The registries-only native set-up (src/core/backend/{pypi,wheel,nativeSetup,nativeLayout}.ts)
// against a local package index that serves stand-in wheels (test/fixtures/native, written by
// scripts/make_native_fixture.py) the way PyPI does: PEP 691 JSON with sha256 hashes, or a
// PEP 503 HTML page with #sha256= fragments. Reference: the wheels' own entries and bytes.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCuda12Libraries, workerEnvironment } from '../../src/core/backend/cudaEnv';
import { installRoot, nativeLibraryDirs, nativeUnsupportedReason, NVIDIA_WHEELS, readNativeInstall, tfLibDir, wheelCacheDir } from '../../src/core/backend/nativeLayout';
import { installNativeLibraries } from '../../src/core/backend/nativeSetup';
import { findWheel } from '../../src/core/backend/pypi';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'native');
const TF_WHEEL = 'tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl';
const NV_FIXTURE = 'nvidia_cudnn_cu12-9.28.0.42-py3-none-manylinux_2_27_x86_64.whl';
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A package index on 127.0.0.1; `corrupt` serves other bytes than the hash it lists. */
class FakeIndex {
  server!: http.Server;
  url = '';
  downloads = 0;
  corrupt = false;
  /** filename → bytes served under /files/<filename>. */
  readonly files = new Map<string, Buffer>();
  /** project → filenames listed on its page. */
  readonly projects = new Map<string, string[]>();

  add(project: string, filename: string, bytes: Buffer): void {
    this.files.set(filename, bytes);
    this.projects.set(project, [...(this.projects.get(project) ?? []), filename]);
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const page = /^\/(simple|html)\/([^/]+)\/$/.exec(url.pathname);
      if (page) {
        const names = this.projects.get(page[2]);
        if (!names) return void res.writeHead(404).end('no such project');
        if (page[1] === 'simple') {
          res.writeHead(200, { 'content-type': 'application/vnd.pypi.simple.v1+json' });
          return void res.end(JSON.stringify({ files: names.map((n) => ({ filename: n, url: `/files/${n}`, hashes: { sha256: sha(this.files.get(n)!) }, size: this.files.get(n)!.length })) }));
        }
        res.writeHead(200, { 'content-type': 'text/html' });
        return void res.end(`<html><body>${names.map((n) => `<a href="../../files/${n}#sha256=${sha(this.files.get(n)!)}">${n}</a><br/>`).join('\n')}</body></html>`);
      }
      const file = /^\/files\/(.+)$/.exec(url.pathname);
      const bytes = file && this.files.get(decodeURIComponent(file[1]));
      if (!bytes) return void res.writeHead(404).end();
      this.downloads++;
      const body = this.corrupt ? Buffer.concat([bytes.subarray(0, bytes.length - 1), Buffer.from([bytes[bytes.length - 1] ^ 0xff])]) : bytes;
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
}

describe('native set-up from a package index', () => {
  const index = new FakeIndex();
  let tmp = '';
  const tfBytes = fs.readFileSync(path.join(FIXTURES, TF_WHEEL));
  const nvBytes = fs.readFileSync(path.join(FIXTURES, NV_FIXTURE));

  beforeAll(async () => {
    index.add('tensorflow-cpu', 'tensorflow_cpu-2.20.0-cp311-cp311-manylinux_2_27_x86_64.whl', Buffer.from('older'));
    index.add('tensorflow-cpu', TF_WHEEL, tfBytes);
    index.add('tensorflow', TF_WHEEL.replace('tensorflow_cpu', 'tensorflow'), tfBytes);
    // Every pinned nvidia wheel served with the cuDNN stand-in's bytes (its entries are nvidia/cudnn/lib/…).
    for (const nv of NVIDIA_WHEELS) index.add(nv.project, nv.filename, nvBytes);
    await index.start();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-lab-native-'));
  });
  afterAll(() => {
    index.server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const envFor = (name: string, indexPath = 'simple'): NodeJS.ProcessEnv => ({ LORA_LAB_PYPI_INDEX: `${index.url}/${indexPath}`, XDG_CACHE_HOME: path.join(tmp, name, 'cache') });

  it('finds the wheel and its sha256 on a PEP 691 JSON index and on a PEP 503 HTML page', async () => {
    for (const kind of ['simple', 'html']) {
      const w = await findWheel('tensorflow-cpu', '2.21.0', ['nope.whl', TF_WHEEL], envFor('find', kind));
      expect(w).toMatchObject({ project: 'tensorflow-cpu', version: '2.21.0', filename: TF_WHEEL, sha256: sha(tfBytes) });
      expect(w.url).toBe(`${index.url}/files/${TF_WHEEL}`);
    }
    await expect(findWheel('tensorflow-cpu', '9.9.9', ['x.whl'], envFor('find'))).rejects.toThrow(/tensorflow-cpu 9\.9\.9: none of x\.whl is on http:\/\/127\.0\.0\.1:\d+\/simple/);
    await expect(findWheel('tensorflow-cpu', '2.20.0', ['x.whl'], envFor('find'))).rejects.toThrow(/it has tensorflow_cpu-2\.20\.0-cp311/);
  });

  it('takes out only the two libraries and the C headers, adds the link names and a record; a second run reuses it; --force extracts again without a new download', async () => {
    const env = envFor('cpu');
    const home = path.join(tmp, 'cpu', 'native');
    const first = await installNativeLibraries({ variant: 'cpu', home, env });
    expect(first.reused).toBe(false);
    expect(first.downloadedBytes).toBe(tfBytes.length);
    expect(index.downloads).toBe(1);
    const root = installRoot(home, 'cpu');
    const files = listFiles(root);
    expect(files).toEqual([
      'include/tensorflow/c/c_api.h',
      'include/tensorflow/c/eager/c_api.h',
      'include/tensorflow/core/platform/ctstring.h',
      'include/tensorflow/core/platform/ctstring_internal.h',
      'include/tsl/platform/ctstring.h',
      'include/xla/tsl/c/tsl_status.h',
      'lora-lab-native.json',
      'site/tensorflow/libtensorflow.so',
      'site/tensorflow/libtensorflow_cc.so.2',
      'site/tensorflow/libtensorflow_framework.so',
      'site/tensorflow/libtensorflow_framework.so.2',
    ]);
    expect(fs.readFileSync(path.join(tfLibDir(root), 'libtensorflow_cc.so.2'), 'utf8')).toBe('stand-in for libtensorflow_cc.so.2\n'.repeat(1000));
    expect(fs.readlinkSync(path.join(tfLibDir(root), 'libtensorflow.so'))).toBe('libtensorflow_cc.so.2');
    expect(readNativeInstall(root)).toMatchObject({ variant: 'cpu', tensorflow: '2.21.0', wheel: { filename: TF_WHEEL, sha256: sha(tfBytes) }, nvidia: [] });
    expect(fs.existsSync(path.join(wheelCacheDir(env), TF_WHEEL))).toBe(true);

    const again = await installNativeLibraries({ variant: 'cpu', home, env });
    expect(again).toMatchObject({ reused: true, downloadedBytes: 0 });
    const forced = await installNativeLibraries({ variant: 'cpu', home, env, force: true });
    expect(forced).toMatchObject({ reused: false, downloadedBytes: 0 }); // the cached wheel's sha256 matched
    expect(index.downloads).toBe(1);
    expect(listFiles(root)).toEqual(files);
  });

  it('a download whose sha256 differs from the index is refused and leaves nothing behind', async () => {
    const env = envFor('corrupt');
    const home = path.join(tmp, 'corrupt', 'native');
    index.corrupt = true;
    try {
      await expect(installNativeLibraries({ variant: 'cpu', home, env })).rejects.toThrow(/sha256 [0-9a-f]{64} does not match the index's [0-9a-f]{64}/);
    } finally {
      index.corrupt = false;
    }
    expect(fs.readdirSync(wheelCacheDir(env))).toEqual([]);
    expect(fs.existsSync(home) ? fs.readdirSync(home) : []).toEqual([]);
  });

  it('a cancelled set-up leaves no install', async () => {
    const ac = new AbortController();
    ac.abort();
    const home = path.join(tmp, 'cancel', 'native');
    await expect(installNativeLibraries({ variant: 'cpu', home, env: envFor('cancel'), signal: ac.signal })).rejects.toThrow();
    expect(readNativeInstall(installRoot(home, 'cpu'))).toBeUndefined();
  });

  it('GPU: the tensorflow wheel plus every pinned nvidia wheel, libraries under site/nvidia/<name>/lib; the worker gets those on LD_LIBRARY_PATH, never TensorFlow\'s own folder', async () => {
    const env = envFor('gpu');
    const home = path.join(tmp, 'gpu', 'native');
    const r = await installNativeLibraries({ variant: 'gpu', home, env });
    expect(r.install.nvidia.map((w) => w.filename)).toEqual(NVIDIA_WHEELS.map((w) => w.filename));
    const dirs = nativeLibraryDirs(r.install);
    expect(dirs).toEqual([tfLibDir(r.install.root), path.join(r.install.root, 'site', 'nvidia', 'cudnn', 'lib')]);
    expect(fs.existsSync(path.join(dirs[1], 'libcudnn.so.9'))).toBe(true);
    expect(fs.existsSync(path.join(r.install.root, 'site', 'nvidia', 'cudnn', 'include'))).toBe(false);
    // The stand-ins carry cuDNN only: the rest is reported missing, by soname.
    const cuda = findCuda12Libraries(r.install, { LD_LIBRARY_PATH: '' }, { ldconfig: false });
    expect(Object.keys(cuda.found)).toEqual(['libcudnn.so.9']);
    expect(cuda.missing).toContain('libcudart.so.12');
    const wenv = workerEnvironment({ LORA_LAB_NATIVE_HOME: home, LD_LIBRARY_PATH: '/mine' }, { threads: 3 });
    expect(wenv.LD_LIBRARY_PATH!.split(':').slice(0, 2)).toEqual(['/mine', dirs[1]]);
    expect(wenv.LD_LIBRARY_PATH).not.toContain(tfLibDir(r.install.root));
    expect(wenv.TF_NUM_INTRAOP_THREADS).toBe('3');
  });

  it('says why native is not set up on other systems', () => {
    expect(nativeUnsupportedReason('linux', 'x64')).toBeUndefined();
    expect(nativeUnsupportedReason('darwin', 'arm64')).toMatch(/Linux only \(this is darwin\); wasm stays the backend, or install @tensorflow\/tfjs-node the classic way/);
    expect(nativeUnsupportedReason('linux', 'arm64')).toMatch(/x86_64 only \(this is arm64\)/);
  });
});

function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(path.join(dir, e.name), rel));
    else out.push(rel);
  }
  return out.sort();
}
