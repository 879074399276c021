/// A usage error: the one line a command prints before exiting with status 2.
public struct UsageError: Error, CustomStringConvertible {
    /// What is wrong with the command line.
    public let description: String
}

/// A command line split into options: `--name value`, `--name=value` and bare `--flag`s, with every lookup
/// validated so that unknown or repeated options are errors.
struct Arguments {
    private var values: [String: [String]] = [:]
    private var flags: Set<String> = []

    /// Parses `words` given which options take a value and which are flags.
    init(_ words: [String], valued: Set<String>, flags allowedFlags: Set<String>) throws {
        var i = 0
        while i < words.count {
            let word = words[i]
            guard word.hasPrefix("--") else { throw UsageError(description: "unexpected argument '\(word)'") }
            var name = String(word.dropFirst(2)), value: String?
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            if allowedFlags.contains(name), value == nil {
                flags.insert(name)
            } else if valued.contains(name) {
                if value == nil {
                    i += 1
                    guard i < words.count, !words[i].hasPrefix("--") else { throw UsageError(description: "--\(name) needs a value") }
                    value = words[i]
                }
                values[name, default: []].append(value!)
            } else {
                throw UsageError(description: "unknown option '--\(name)'")
            }
            i += 1
        }
    }

    /// Every value given for `name`, commas splitting lists (`--op add,sum --op matmul`).
    func list(_ name: String) -> [String] {
        (values[name] ?? []).flatMap { $0.split(separator: ",").map(String.init) }
    }

    /// The single value of `name`, if given.
    func value(_ name: String) throws -> String? {
        let all = values[name] ?? []
        guard all.count <= 1 else { throw UsageError(description: "--\(name) is given more than once") }
        return all.first
    }

    /// Whether the flag was given.
    func flag(_ name: String) -> Bool { flags.contains(name) }
}
