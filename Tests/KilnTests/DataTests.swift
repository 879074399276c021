import Foundation
import Testing
import Kiln
import KilnNN

@Suite struct DataTests {
    @Test func loaderBatchesShufflesBySeedAndDropsLast() {
        let loader = DataLoader(ArrayDataset(Array(0..<10)), batchSize: 4, shuffle: true, seed: 3, dropLast: true) { (samples: [Int]) in samples }
        #expect(loader.batchCount == 2)
        let first = Array(loader), second = Array(loader)
        #expect(first.count == 2 && first.allSatisfy { $0.count == 4 })
        #expect(Set(first.flatMap { $0 }).count == 8)
        #expect(first != second)                                          // a new order every epoch
        #expect(first.flatMap { $0 } == Array(loader.order(epoch: 0).prefix(8)))
        #expect(loader.order(epoch: 0).sorted() == Array(0..<10))
        let again = DataLoader(ArrayDataset(Array(0..<10)), batchSize: 4, shuffle: true, seed: 3, dropLast: true) { (samples: [Int]) in samples }
        #expect(Array(again) == first)                                    // the same seed, the same order
        let plain = DataLoader(ArrayDataset(Array(0..<10)), batchSize: 4) { (samples: [Int]) in samples }
        #expect(Array(plain) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
    }

    @Test func loaderCollatesTensorsInTheBackground() {
        let data = ArrayDataset((0..<6).map { ([Float($0), Float($0) * 2], Int64($0 % 2)) })
        let loader = DataLoader(data, batchSize: 4) { (samples: [([Float], Int64)]) -> (Tensor, Tensor) in
            (Tensor(samples.flatMap(\.0), shape: [samples.count, 2]), Tensor(samples.map(\.1)))
        }
        let batches = Array(loader)
        #expect(batches.map(\.0.shape) == [[4, 2], [2, 2]])
        #expect(batches[1].0.toArray(Float.self) == [4, 8, 5, 10] && batches[1].1.toArray(Int64.self) == [0, 1])
    }

    @Test func tokenizersAndPadding() throws {
        let chars = CharTokenizer(text: "hello")
        #expect(chars.vocabulary == ["e", "h", "l", "o"])
        #expect(try chars.encode("hole") == [1, 3, 2, 0] && chars.decode([1, 0, 2, 2, 3]) == "hello")
        #expect(throws: KilnError.self) { try chars.encode("hex") }
        let words = WordTokenizer(texts: ["The cat sat.", "the cat ran; THE dog!"], maxWords: 5)
        #expect(words.vocabulary == ["", "<unk>", "the", "cat", "sat"])
        #expect(words.encode("The dog sat") == [2, 1, 4])
        #expect(words.decode([0, 2, 3]) == "the cat")
        // Keras: pad_sequences([[1,2,3],[4,5],[6]]) and with maxlen=2, and post padding/truncation.
        #expect(padSequences([[1, 2, 3], [4, 5], [6]]) == [[1, 2, 3], [0, 4, 5], [0, 0, 6]])
        #expect(padSequences([[1, 2, 3], [4, 5], [6]], maxLength: 2) == [[2, 3], [4, 5], [0, 6]])
        #expect(padSequences([[1, 2, 3], [6]], maxLength: 2, padding: .post, truncating: .post, value: -1) == [[1, 2], [6, -1]])
    }

    @Test func languageModelBatchesShiftTargetsByOne() {
        let tokens = Array(0..<50)
        let (inputs, targets) = languageModelBatch(tokens, context: 8, batchSize: 5, generator: RandomGenerator(seed: 4))
        #expect(inputs.shape == [5, 8] && targets.shape == [5, 8])
        let x = inputs.toArray(Int64.self), y = targets.toArray(Int64.self)
        #expect(zip(x, y).allSatisfy { $1 == $0 + 1 })
        #expect(stride(from: 0, to: 40, by: 8).allSatisfy { x[$0 + 7] == x[$0] + 7 })
    }

    @Test func readsIDXIncludingGzipWrittenByPython() throws {
        let images = try DataFiles.readIDX(fixtures.appendingPathComponent("images-idx3-ubyte.gz").path, device: .cpu)
        #expect(images.dtype == .uint8 && images.shape == [3, 2, 2])
        #expect(images.toArray(UInt8.self) == Array(stride(from: 0, to: 240, by: 20)).map(UInt8.init))
        #expect(try DataFiles.readIDX(fixtures.appendingPathComponent("labels-idx1-ubyte").path).toArray(UInt8.self) == [7, 0, 9])
        #expect(try DataFiles.readIDX(fixtures.appendingPathComponent("floats.idx").path).toArray(Float.self) == [1.5, -2, 0.25, 1e10])
        let broken = temporaryPath("broken.idx")
        defer { try? FileManager.default.removeItem(atPath: broken) }
        try Data([0, 0, 8, 1, 0, 0, 0, 9, 1, 2]).write(to: URL(fileURLWithPath: broken))
        #expect(throws: DataFileError.malformed(file: broken, detail: "2 data bytes for shape [9], expected 9")) { try DataFiles.readIDX(broken) }
        try Data([0x1F, 0x8B, 8, 0, 1, 2, 3]).write(to: URL(fileURLWithPath: broken))
        #expect(throws: DataFileError.self) { try DataFiles.readIDX(broken) }
    }

    @Test func readsCSVAndTextFolders() throws {
        let folder = temporaryPath("data")
        try FileManager.default.createDirectory(atPath: folder + "/b", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "x,y\n1,2.5\n-3, 4e2\n\n".write(toFile: folder + "/a.csv", atomically: true, encoding: .utf8)
        let table = try DataFiles.readCSV(folder + "/a.csv", header: true)
        #expect(table.shape == [2, 2] && table.toArray(Float.self) == [1, 2.5, -3, 400])
        try "1,2\n3\n".write(toFile: folder + "/bad.csv", atomically: true, encoding: .utf8)
        #expect(throws: DataFileError.malformed(file: folder + "/bad.csv", detail: "line 2 has 1 columns, expected 2")) {
            try DataFiles.readCSV(folder + "/bad.csv")
        }
        try "one".write(toFile: folder + "/b/1.txt", atomically: true, encoding: .utf8)
        try "two".write(toFile: folder + "/b/2.txt", atomically: true, encoding: .utf8)
        #expect(try DataFiles.readText(folder + "/b") == "one\ntwo")
        #expect(throws: DataFileError.self) { try DataFiles.readText(folder + "/missing") }
    }
}
