import Foundation

// Not implemented yet: see docs/status.md. Exits non-zero so that no deployment mistakes it for a
// working binary.
FileHandle.standardError.write(Data("sextant-server: not implemented yet (see docs/status.md)\n".utf8))
exit(1)
