import NIOCore

/// The one event-loop timer an MQTT connection keeps for its state machine's next deadline
/// (connect timeout, keep-alive, ping): armed only when the deadline is earlier than the armed one;
/// a timer that fires early re-arms for the deadline current then.
struct MachineTimer {
    private var scheduled: Scheduled<Void>?
    private var deadline: NIODeadline?

    /// Arms for `deadline` unless an earlier or equal one is armed; `fire` runs on `loop` and must
    /// call `fired()` before asking the machine what is due.
    mutating func arm(for deadline: NIODeadline, on loop: any EventLoop, fire: @escaping @Sendable () -> Void) {
        if let armed = self.deadline, armed <= deadline, scheduled != nil { return }
        scheduled?.cancel()
        self.deadline = deadline
        scheduled = loop.scheduleTask(deadline: deadline, fire)
    }

    /// The armed timer went off: none is armed now.
    mutating func fired() {
        scheduled = nil
        deadline = nil
    }

    mutating func cancel() {
        scheduled?.cancel()
        fired()
    }
}
