/**
 * Calls back, once a burst of changes has settled, when any of some files changes: the config
 * file (`stepgate serve`) and the `server.tls` pair. Each file's directory is watched, not the
 * file: editors save by writing a new file and renaming it over the old one, which would leave a
 * watch on the file itself pointing at the unlinked inode; and Kubernetes updates a mounted
 * Secret or ConfigMap by swapping its `..data` symlink, an event named after no file of ours.
 */
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

/** How long a burst of file events (an editor's save) settles before one call. */
const WATCH_DEBOUNCE_MS = 200;

export interface FilesWatcher {
  close(): void;
}

export function watchFiles(files: readonly string[], onChange: () => void): FilesWatcher {
  const byDir = new Map<string, Set<string>>();
  for (const file of files.map((f) => resolve(f))) {
    const names = byDir.get(dirname(file)) ?? new Set();
    names.add(basename(file));
    byDir.set(dirname(file), names);
  }
  let timer: NodeJS.Timeout | undefined;
  const watchers: FSWatcher[] = [];
  for (const [dir, names] of byDir) {
    try {
      const watcher = watch(dir, { persistent: false }, (_event, changed) => {
        if (changed !== null && !names.has(changed) && !changed.startsWith('..')) return;
        clearTimeout(timer);
        timer = setTimeout(onChange, WATCH_DEBOUNCE_MS);
      });
      watcher.on('error', () => watcher.close());
      watchers.push(watcher);
    } catch {
      // Unwatchable (gone, or no inotify): SIGHUP still reloads.
    }
  }
  return {
    close() {
      clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}
