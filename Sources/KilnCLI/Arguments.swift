/// A usage error: the one line a command prints before exiting with status 2.
public struct UsageError: Error, CustomStringConvertible {
    /// What is wrong with the command line.
    public let description: String
}

/// A command line split into options: `--name value`, `--name=value` and bare `--flag`s, with every lookup
/// validated so that unknown or repeated options are errors.
public struct Arguments {
    private var values: [String: [String]] = [:]
    private var flags: Set<String> = []

    /// Parses `words` given which options take a value and which are flags.
    public init(_ words: [String], valued: Set<String>, flags allowedFlags: Set<String>) throws {
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
    public func list(_ name: String) -> [String] {
        (values[name] ?? []).flatMap { $0.split(separator: ",").map(String.init) }
    }

    /// The single value of `name`, if given.
    public func value(_ name: String) throws -> String? {
        let all = values[name] ?? []
        guard all.count <= 1 else { throw UsageError(description: "--\(name) is given more than once") }
        return all.first
    }

    /// Whether the flag was given.
    public func flag(_ name: String) -> Bool { flags.contains(name) }

    /// These arguments with `defaults` (option name → value) filled in for the valued options not given.
    public func filling(_ defaults: [String: String]) -> Arguments {
        var filled = self
        for (name, value) in defaults where filled.values[name] == nil { filled.values[name] = [value] }
        return filled
    }

    /// The integer value of `name` within `range`, or `fallback` when it is not given.
    public func int(_ name: String, default fallback: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let text = try value(name) else { return fallback }
        guard let number = Int(text), range.contains(number) else {
            throw UsageError(description: "--\(name) needs an integer from \(range.lowerBound) to \(range.upperBound), got '\(text)'")
        }
        return number
    }

    /// The number value of `name` within `range`, or `fallback` when it is not given.
    public func double(_ name: String, default fallback: Double, in range: ClosedRange<Double>) throws -> Double {
        guard let text = try value(name) else { return fallback }
        guard let number = Double(text), range.contains(number) else {
            throw UsageError(description: "--\(name) needs a number from \(range.lowerBound) to \(range.upperBound), got '\(text)'")
        }
        return number
    }

    /// The value of `name`, which must be one of `choices`, or `fallback` when it is not given.
    public func choice(_ name: String, _ choices: [String], default fallback: String) throws -> String {
        guard let text = try value(name) else { return fallback }
        guard choices.contains(text) else {
            throw UsageError(description: "--\(name) must be one of \(choices.joined(separator: ", ")), got '\(text)'")
        }
        return text
    }
}
