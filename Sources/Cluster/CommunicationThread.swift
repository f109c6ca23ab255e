import CMPI
import Foundation

/// The one thread that makes MPI calls. MPI is initialised on it (so MPI_THREAD_FUNNELED is what it needs), every
/// blocking call runs on it while the caller waits (`perform`), and non-blocking allreduces (`start`) stay in flight
/// while the caller goes on computing. Open MPI progresses non-blocking collectives only inside MPI calls, so while
/// requests are in flight this thread tests them: every `pollInterval` while nobody waits for them (so that it
/// takes little of a core that computes), continuously while the caller waits (its core is idle then).
final class CommunicationThread {
    /// A non-blocking operation's result, set by the communication thread.
    final class Completion {
        fileprivate var done = false
        fileprivate var error: Error?
    }

    private enum Work {
        case call(() -> Void)
        case start(begin: () throws -> MPI_Request?, completion: Completion)
    }

    private struct InFlight {
        var request: MPI_Request?
        let completion: Completion
    }

    private let condition = NSCondition()
    private var queue: [Work] = []
    private var inFlight: [InFlight] = []
    /// Callers blocked in `wait`: the thread then tests without pausing.
    private var waiters = 0
    private let pollInterval: TimeInterval = 0.0005
    private var thread: Thread!

    init() {
        thread = Thread { [unowned self] in self.serve() }
        thread.name = "bc-train MPI"
        thread.start()
    }

    /// Runs `body` on the communication thread and returns its result; the caller blocks meanwhile.
    func perform<T>(_ body: @escaping () throws -> T) throws -> T {
        var result: Result<T, Error>?
        condition.lock()
        queue.append(.call { result = Result { try body() } })
        condition.broadcast()
        waiters += 1
        while result == nil { condition.wait() }
        waiters -= 1
        condition.unlock()
        return try result!.get()
    }

    /// Queues a non-blocking operation (`begin` returns its request) and returns at once. Operations start in the
    /// order they are queued, which every rank must keep the same for collectives.
    func start(_ begin: @escaping () throws -> MPI_Request?) -> Completion {
        let completion = Completion()
        condition.lock()
        queue.append(.start(begin: begin, completion: completion))
        condition.broadcast()
        condition.unlock()
        return completion
    }

    /// Blocks until `completion`'s operation has finished; rethrows its MPI error.
    func wait(_ completion: Completion) throws {
        condition.lock()
        waiters += 1
        condition.broadcast()
        while !completion.done { condition.wait() }
        waiters -= 1
        condition.unlock()
        if let error = completion.error { throw error }
    }

    private func serve() {
        while true {
            condition.lock()
            while queue.isEmpty && inFlight.isEmpty { condition.wait() }
            if queue.isEmpty && waiters == 0 { _ = condition.wait(until: Date(timeIntervalSinceNow: pollInterval)) }
            let work = queue
            queue.removeAll()
            condition.unlock()

            var started: [InFlight] = [], failed: [Completion] = []
            for item in work {
                switch item {
                case .call(let body):
                    body()
                    condition.lock(); condition.broadcast(); condition.unlock()
                case .start(let begin, let completion):
                    do { started.append(InFlight(request: try begin(), completion: completion)) } catch {
                        completion.error = error
                        failed.append(completion)
                    }
                }
            }
            inFlight += started  // only this thread touches `inFlight`
            let finished = testInFlight() + failed
            guard !finished.isEmpty else { continue }
            condition.lock()
            for completion in finished { completion.done = true }
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Tests every request in flight (which also progresses them) and returns the completions of those that ended.
    private func testInFlight() -> [Completion] {
        var finished: [Completion] = []
        var index = 0
        while index < inFlight.count {
            var flag: Int32 = 0
            let code = MPI_Test(&inFlight[index].request, &flag, cmpi_status_ignore())
            if code != cmpi_success() || flag != 0 {
                if code != cmpi_success() { inFlight[index].completion.error = MPIWorld.error(code, "MPI_Test") }
                finished.append(inFlight.remove(at: index).completion)
            } else {
                index += 1
            }
        }
        return finished
    }
}
