// Native addons (.node) inside a mount are refused, clearly, instead of failing with "cannot open
// shared object file".
//
// The system loader (dlopen) maps an addon from a file the kernel can read. A protected file on the
// disk is ciphertext, so loading it would mean writing its plaintext to some file first: on the
// untrusted disk that shows the addon to the host and lets the host swap it for its own code
// between the write and the dlopen (which runs the addon's constructors at once). An anonymous
// memory file (memfd_create) would avoid both, but is not reachable from JavaScript.
import { fileURLToPath } from 'node:url';
import { shieldError } from '../file/fs-errors.js';
import type { Shield } from '../fs/mount.js';

/** Makes process.dlopen (what require() of a .node file calls) refuse files inside the shield's mounts. */
export function refuseNativeAddonsIn(shield: Shield): void {
  const dlopen = process.dlopen;
  process.dlopen = function (module: { exports: unknown }, filename: string | URL, flags?: number) {
    const path = filename instanceof URL ? fileURLToPath(filename) : filename;
    if (typeof path === 'string' && shield.isMounted(path)) {
      const where = shield.mounts.find((mount) => path === mount.path || path.startsWith(`${mount.path}/`))?.path;
      throw shieldError('ENOTSUP', `cannot load the native addon ${path}: it lies in the protected ${where ? `mount ${where}` : 'mount'}, ` +
        'and the system loader can only map a plaintext file from the disk, which the host could read and replace before it runs. ' +
        'Keep native addons outside protected trees (README, "Running code from protected trees")', path);
    }
    return Reflect.apply(dlopen, process, arguments as unknown as unknown[]) as void;
  } as typeof process.dlopen;
}
