@_exported import KilnCore
