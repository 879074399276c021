import Foundation
import KilnCLI

exit(KilnCommand.main(Array(CommandLine.arguments.dropFirst())))
