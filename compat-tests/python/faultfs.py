#!/usr/bin/env python3
"""A slow or failing disk: a FUSE passthrough of ROOT mounted at MOUNT whose writes,
fsyncs, creates, renames, unlinks and truncates each sleep DELAY_MS (reads are not
delayed), and, while the file FAULT_FILE exists, fail with the errno it names (EROFS,
EIO, ENOSPC...). Runs in the foreground until unmounted (fusermount -u MOUNT, or umount).
Used by benches/slow_disk/bench.py (delays) and test_disk_faults.py (faults).

    faultfs.py ROOT MOUNT DELAY_MS [FAULT_FILE]
"""

import errno
import os
import sys
import time

from fuse import FUSE, FuseOSError, Operations


class FaultyPassthrough(Operations):
    def __init__(self, root: str, delay_s: float, fault_file: str | None):
        self.root = root
        self.delay_s = delay_s
        self.fault_file = fault_file

    def _p(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def _slow(self) -> None:
        """Before every mutating operation: the delay, then the injected fault if any."""
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fault_file:
            try:
                with open(self.fault_file) as f:
                    name = f.read().strip()
            except FileNotFoundError:
                return
            raise FuseOSError(getattr(errno, name, errno.EIO))

    def access(self, path, mode):
        if not os.access(self._p(path), mode):
            raise FuseOSError(errno.EACCES)

    def getattr(self, path, fh=None):
        st = os.lstat(self._p(path))
        keys = ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink", "st_size", "st_uid")
        return {k: getattr(st, k) for k in keys}

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._p(path))

    def mkdir(self, path, mode):
        self._slow()
        return os.mkdir(self._p(path), mode)

    def rmdir(self, path):
        self._slow()
        return os.rmdir(self._p(path))

    def unlink(self, path):
        self._slow()
        return os.unlink(self._p(path))

    def rename(self, old, new):
        self._slow()
        return os.rename(self._p(old), self._p(new))

    def chmod(self, path, mode):
        return os.chmod(self._p(path), mode)

    def utimens(self, path, times=None):
        return os.utime(self._p(path), times)

    def statfs(self, path):
        st = os.statvfs(self._p(path))
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag",
                "f_frsize", "f_namemax")
        return {k: getattr(st, k) for k in keys}

    def open(self, path, flags):
        return os.open(self._p(path), flags)

    def create(self, path, mode, fi=None):
        self._slow()
        return os.open(self._p(path), os.O_WRONLY | os.O_CREAT, mode)

    def read(self, path, length, offset, fh):
        return os.pread(fh, length, offset)

    def write(self, path, buf, offset, fh):
        self._slow()
        return os.pwrite(fh, buf, offset)

    def truncate(self, path, length, fh=None):
        self._slow()
        with open(self._p(path), "r+b") as f:
            f.truncate(length)

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        return os.close(fh)

    def fsync(self, path, fdatasync, fh):
        self._slow()
        return os.fsync(fh)


def main() -> None:
    root, mount, delay_ms = sys.argv[1], sys.argv[2], float(sys.argv[3])
    fault_file = sys.argv[4] if len(sys.argv) > 4 else None
    FUSE(FaultyPassthrough(root, delay_ms / 1000.0, fault_file), mount, foreground=True, nothreads=False)


if __name__ == "__main__":
    main()
