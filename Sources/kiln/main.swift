import Foundation
import KilnCheck

/// The `kiln` command: for now `kiln check`; training, sampling, benchmarks and inspection arrive with the CLI issue.
let usage = """
usage: kiln <command> [options]

commands:
  check     cross-check every op on every device against a reference (kiln check --help)

Run `kiln COMMAND --help` for a command's options.
"""

let words = Array(CommandLine.arguments.dropFirst())
do {
    switch words.first {
    case "check":
        exit(try CheckCommand.run(Array(words.dropFirst())))
    case "--help", "-h", "help":
        print(usage)
    case nil:
        print(usage)
        exit(2)
    case let other?:
        FileHandle.standardError.write("kiln: unknown command '\(other)'\n\(usage)\n".data(using: .utf8)!)
        exit(2)
    }
} catch {
    FileHandle.standardError.write("kiln: \(error)\n".data(using: .utf8)!)
    exit(2)
}
