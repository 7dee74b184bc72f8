// What the host does to a volume's or tree's content on disk in the tests of issue 4: flip one bit
// in the middle of its largest object file (the biggest module, the model file).
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function flipByteInLargestObject(directory: string): void {
  const objects = join(directory, '.shieldfs', 'objects');
  let largest = '', size = -1;
  for (const fan of readdirSync(objects)) {
    for (const name of readdirSync(join(objects, fan))) {
      const path = join(objects, fan, name);
      const s = statSync(path).size;
      if (s > size) [largest, size] = [path, s];
    }
  }
  const bytes = readFileSync(largest);
  bytes[bytes.length >> 1]! ^= 0x01;
  writeFileSync(largest, bytes);
}
