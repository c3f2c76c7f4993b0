import CellbaseSQL

/// The SQL of a project's queue, webhooks and schedules: one text for SQLite and PostgreSQL apart
/// from table qualification, parameter markers, the clock and PostgreSQL's row locks.
///
/// Every time is an integer of milliseconds since 1970 read from the database's own clock, so the
/// nodes sharing a PostgreSQL shard agree on when a lease ends however their clocks drift.
struct JobStatements: Sendable {
    static let jobsTable = "_cellbase_jobs"
    static let queuesTable = "_cellbase_job_queues"
    static let webhooksTable = "_cellbase_webhooks"
    static let schedulesTable = "_cellbase_schedules"
    /// One row: the change log position up to which webhooks have been turned into jobs.
    static let webhookCursorTable = "_cellbase_webhook_cursor"

    let jobs: String
    let queues: String
    let webhooks: String
    let schedules: String
    let webhookCursor: String
    let dialect: SQLDialect

    init(namespace: SQLNamespace) {
        jobs = namespace.qualified(Self.jobsTable)
        queues = namespace.qualified(Self.queuesTable)
        webhooks = namespace.qualified(Self.webhooksTable)
        schedules = namespace.qualified(Self.schedulesTable)
        webhookCursor = namespace.qualified(Self.webhookCursorTable)
        dialect = namespace.dialect
    }

    private func index(_ name: String) -> String { SQLNamespace.quote(name) }

    private func p(_ index: Int) -> String { (dialect == .postgres ? "$" : "?") + String(index) }

    /// The database's clock in milliseconds since 1970.
    var now: String {
        dialect == .postgres
            ? "CAST(floor(extract(epoch FROM clock_timestamp()) * 1000) AS bigint)"
            : "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    }

    private var skipLocked: String { dialect == .postgres ? " FOR UPDATE SKIP LOCKED" : "" }

    /// SQLite otherwise reads ready jobs through the `(state, created_at)` index and sorts them,
    /// which grows with the queue; the partial index of ready jobs is already in `run_at` order.
    private var readyIndex: String { dialect == .sqlite ? " INDEXED BY \(index(Self.jobsTable + "_ready"))" : "" }

    /// Jobs of paused queues are left alone. `NOT IN` over the few paused names (a hashed
    /// subquery on PostgreSQL) keeps the scan of ready jobs in `run_at` order, where a correlated
    /// `NOT EXISTS` made PostgreSQL scan and sort the whole table.
    private var unpaused: String { "j.queue NOT IN (SELECT q.name FROM \(queues) q WHERE q.paused <> 0)" }

    func serializeSchemaChanges(ref: String) -> SQLStatement {
        dialect == .postgres
            ? SQLStatement("SELECT pg_advisory_xact_lock(hashtext($1))", binds: [.text("cellbase:job-tables:" + ref)])
            : SQLStatement("SELECT NULL")
    }

    var createTables: [SQLStatement] {
        [
            """
            CREATE TABLE IF NOT EXISTS \(jobs) (
                id text PRIMARY KEY,
                queue text NOT NULL,
                kind text NOT NULL,
                payload text NOT NULL,
                idempotency_key text NOT NULL UNIQUE,
                state text NOT NULL,
                attempts bigint NOT NULL,
                max_attempts bigint NOT NULL,
                run_at bigint NOT NULL,
                lease_token text,
                lease_owner text,
                lease_expires_at bigint,
                last_error text,
                result text,
                created_at bigint NOT NULL,
                updated_at bigint NOT NULL,
                finished_at bigint
            )
            """,
            "CREATE INDEX IF NOT EXISTS \(index(Self.jobsTable + "_ready")) ON \(jobs) (run_at) WHERE state IN ('queued', 'failed')",
            "CREATE INDEX IF NOT EXISTS \(index(Self.jobsTable + "_leases")) ON \(jobs) (lease_expires_at) WHERE state = 'running'",
            "CREATE INDEX IF NOT EXISTS \(index(Self.jobsTable + "_state")) ON \(jobs) (state, created_at)",
            "CREATE TABLE IF NOT EXISTS \(queues) (name text PRIMARY KEY, paused bigint NOT NULL)",
            """
            CREATE TABLE IF NOT EXISTS \(webhooks) (
                id text PRIMARY KEY,
                name text NOT NULL UNIQUE,
                table_name text NOT NULL,
                events text NOT NULL,
                filter text,
                url text NOT NULL,
                secret text NOT NULL,
                timeout_ms bigint NOT NULL,
                max_attempts bigint NOT NULL,
                enabled bigint NOT NULL,
                disabled_reason text,
                since_seq bigint NOT NULL,
                created_at bigint NOT NULL
            )
            """,
            "CREATE TABLE IF NOT EXISTS \(webhookCursor) (id bigint PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL)",
            """
            CREATE TABLE IF NOT EXISTS \(schedules) (
                name text PRIMARY KEY,
                cron text NOT NULL,
                time_zone text NOT NULL,
                kind text NOT NULL,
                payload text NOT NULL,
                enabled bigint NOT NULL,
                next_run_at bigint NOT NULL,
                last_run_at bigint,
                created_at bigint NOT NULL
            )
            """,
        ].map { SQLStatement($0) }
    }

    /// One row when the queue's tables exist.
    var tableExists: SQLStatement {
        dialect == .postgres
            ? SQLStatement("SELECT CAST(to_regclass($1) AS text) WHERE to_regclass($1) IS NOT NULL", binds: [.text(jobs)])
            : SQLStatement("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?1", binds: [.text(Self.jobsTable)])
    }

    // MARK: Jobs

    /// Binds: id, queue, kind, payload, idempotency key, max attempts, run at (NULL: now).
    var insertJob: String {
        """
        INSERT INTO \(jobs) (id, queue, kind, payload, idempotency_key, state, attempts, max_attempts, run_at, created_at, updated_at)
        VALUES (\(p(1)), \(p(2)), \(p(3)), \(p(4)), \(p(5)), 'queued', 0, \(p(6)), coalesce(\(p(7)), \(now)), \(now), \(now))
        ON CONFLICT (idempotency_key) DO NOTHING
        """
    }

    var jobByIdempotencyKey: String { "SELECT \(JobRecord.columns) FROM \(jobs) WHERE idempotency_key = \(p(1))" }
    var jobByID: String { "SELECT \(JobRecord.columns) FROM \(jobs) WHERE id = \(p(1))" }

    /// Jobs whose worker stopped renewing their lease go back to `failed` (or `dead` when that
    /// was their last attempt), ready at once.
    var expireLeases: String {
        """
        UPDATE \(jobs) SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'failed' END,
            last_error = 'the worker running it stopped renewing its lease', run_at = \(now),
            finished_at = CASE WHEN attempts >= max_attempts THEN \(now) ELSE NULL END,
            lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = \(now)
        WHERE id IN (SELECT id FROM \(jobs) WHERE state = 'running' AND lease_expires_at < \(now) LIMIT 1000\(skipLocked))
        """
    }

    /// Leases up to `limit` ready jobs of unpaused queues, oldest due first. Binds: lease token,
    /// owner, lease milliseconds, limit. On PostgreSQL `SKIP LOCKED` lets several nodes claim at
    /// once without waiting for each other or taking the same row.
    var claim: String {
        """
        UPDATE \(jobs) SET state = 'running', attempts = attempts + 1, lease_token = \(p(1)) || '.' || id, lease_owner = \(p(2)),
            lease_expires_at = \(now) + \(p(3)), updated_at = \(now)
        WHERE id IN (
            SELECT j.id FROM \(jobs) j\(readyIndex)
            WHERE j.state IN ('queued', 'failed') AND j.run_at <= \(now) AND \(unpaused)
            ORDER BY j.run_at LIMIT \(p(4))\(skipLocked)
        )
        RETURNING id, queue, kind, payload, idempotency_key, CAST(attempts AS text), CAST(max_attempts AS text), lease_token
        """
    }

    /// Binds: id, lease token, lease milliseconds. No row: the lease was lost.
    var renewLease: String {
        "UPDATE \(jobs) SET lease_expires_at = \(now) + \(p(3)) WHERE id = \(p(1)) AND lease_token = \(p(2)) AND state = 'running' RETURNING id"
    }

    /// Binds: id, lease token, result (JSON or NULL).
    var complete: String {
        """
        UPDATE \(jobs) SET state = 'completed', result = \(p(3)), last_error = NULL, finished_at = \(now), updated_at = \(now),
            lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = \(p(1)) AND lease_token = \(p(2)) AND state = 'running' RETURNING id
        """
    }

    /// Binds: id, lease token, error, delay in milliseconds before the next attempt, and 1 when
    /// retrying cannot help. The last allowed attempt's failure is final too.
    var fail: String {
        """
        UPDATE \(jobs) SET state = CASE WHEN \(p(5)) = 1 OR attempts >= max_attempts THEN 'dead' ELSE 'failed' END,
            last_error = \(p(3)), run_at = \(now) + \(p(4)),
            finished_at = CASE WHEN \(p(5)) = 1 OR attempts >= max_attempts THEN \(now) ELSE NULL END,
            updated_at = \(now), lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = \(p(1)) AND lease_token = \(p(2)) AND state = 'running' RETURNING state
        """
    }

    /// A page of jobs, newest first. Binds: state (NULL: any), queue (NULL: any), limit, offset.
    var listJobs: String {
        """
        SELECT \(JobRecord.columns) FROM \(jobs)
        WHERE (CAST(\(p(1)) AS text) IS NULL OR state = \(p(1))) AND (CAST(\(p(2)) AS text) IS NULL OR queue = \(p(2)))
        ORDER BY created_at DESC, id LIMIT \(p(3)) OFFSET \(p(4))
        """
    }

    /// A dead job queued again with a fresh set of attempts. Binds: id.
    var retryDead: String {
        """
        UPDATE \(jobs) SET state = 'queued', attempts = 0, run_at = \(now), finished_at = NULL, updated_at = \(now)
        WHERE id = \(p(1)) AND state = 'dead' RETURNING id
        """
    }

    /// Binds: id. Only dead jobs are discarded: anything else is still the queue's.
    var discardDead: String { "DELETE FROM \(jobs) WHERE id = \(p(1)) AND state = 'dead' RETURNING id" }

    /// Completed jobs older than the retention go. Binds: retention milliseconds.
    var purgeCompleted: String {
        "DELETE FROM \(jobs) WHERE id IN (SELECT id FROM \(jobs) WHERE state = 'completed' AND finished_at < \(now) - \(p(1)) LIMIT 10000)"
    }

    /// Per queue and state: how many jobs, and the oldest one's `run_at` (for ready jobs, how long
    /// the oldest has waited).
    var depth: String {
        """
        SELECT queue, state, CAST(count(*) AS text), CAST(min(run_at) AS text), CAST(\(now) AS text) FROM \(jobs)
        WHERE state IN ('queued', 'failed', 'running', 'dead') GROUP BY queue, state
        """
    }

    /// When the next job of an unpaused queue becomes ready (NULL: none is waiting).
    var nextRunAt: String {
        """
        SELECT CAST(min(j.run_at) AS text), CAST(\(now) AS text) FROM \(jobs) j\(readyIndex)
        WHERE j.state IN ('queued', 'failed') AND \(unpaused)
        """
    }

    /// Whether anything is still the queue's business: a waiting or running job, a webhook, a schedule.
    var hasWork: String {
        """
        SELECT 'jobs' FROM \(jobs) WHERE state IN ('queued', 'failed', 'running')
        UNION ALL SELECT 'webhooks' FROM \(webhooks) WHERE enabled <> 0
        UNION ALL SELECT 'schedules' FROM \(schedules) WHERE enabled <> 0
        LIMIT 1
        """
    }

    // MARK: Queues

    /// Binds: name, 1 to pause or 0 to resume.
    var setPaused: String {
        "INSERT INTO \(queues) (name, paused) VALUES (\(p(1)), \(p(2))) ON CONFLICT (name) DO UPDATE SET paused = excluded.paused"
    }

    var listQueues: String { "SELECT name, CAST(paused AS text) FROM \(queues) ORDER BY name" }
}

extension JobStatements {
    // MARK: Webhooks

    /// Binds the columns of `Webhook` in order except `since_seq`, which is the cursor's
    /// position (the change log's head when the cursor is new: binding 12).
    var insertWebhook: String {
        """
        INSERT INTO \(webhooks) (id, name, table_name, events, filter, url, secret, timeout_ms, max_attempts, enabled, disabled_reason, created_at, since_seq)
        VALUES (\((1...11).map(p).joined(separator: ", ")), \(now), \(p(12)))
        """
    }

    /// Binds: the change log's head, used when the cursor has no row yet.
    var createCursor: String {
        "INSERT INTO \(webhookCursor) (id, seq) VALUES (1, \(p(1))) ON CONFLICT (id) DO NOTHING"
    }

    var cursor: String { "SELECT CAST(seq AS text) FROM \(webhookCursor) WHERE id = 1" }

    /// Binds: new position, old position. No row: another node moved the cursor first.
    var advanceCursor: String {
        "UPDATE \(webhookCursor) SET seq = \(p(1)) WHERE id = 1 AND seq = \(p(2)) RETURNING seq"
    }

    var listWebhooks: String { "SELECT \(Webhook.columns) FROM \(webhooks) ORDER BY name" }
    var enabledWebhooks: String { "SELECT \(Webhook.columns) FROM \(webhooks) WHERE enabled <> 0 ORDER BY name" }
    var webhookByName: String { "SELECT \(Webhook.columns) FROM \(webhooks) WHERE name = \(p(1))" }
    var deleteWebhook: String { "DELETE FROM \(webhooks) WHERE name = \(p(1)) RETURNING id" }

    /// Binds: name, 1 or 0, reason (NULL when enabling).
    var setWebhookEnabled: String {
        "UPDATE \(webhooks) SET enabled = \(p(2)), disabled_reason = \(p(3)) WHERE name = \(p(1)) RETURNING id"
    }
}

extension JobStatements {
    // MARK: Schedules

    static let scheduleColumns = "name, cron, time_zone, kind, payload, CAST(enabled AS text), CAST(next_run_at AS text), CAST(last_run_at AS text), CAST(created_at AS text)"

    /// Binds: name, cron, time zone, kind, payload, next run.
    var insertSchedule: String {
        """
        INSERT INTO \(schedules) (name, cron, time_zone, kind, payload, enabled, next_run_at, created_at)
        VALUES (\(p(1)), \(p(2)), \(p(3)), \(p(4)), \(p(5)), 1, \(p(6)), \(now))
        """
    }

    var listSchedules: String { "SELECT \(Self.scheduleColumns) FROM \(schedules) ORDER BY name" }
    var scheduleByName: String { "SELECT \(Self.scheduleColumns) FROM \(schedules) WHERE name = \(p(1))" }
    var deleteSchedule: String { "DELETE FROM \(schedules) WHERE name = \(p(1)) RETURNING name" }

    /// Enabled schedules whose next run has come, with the database's clock.
    var dueSchedules: String {
        "SELECT \(Self.scheduleColumns), CAST(\(now) AS text) FROM \(schedules) WHERE enabled <> 0 AND next_run_at <= \(now) ORDER BY next_run_at LIMIT 100"
    }

    /// Binds: name, the run being taken (its old `next_run_at`), the next one. No row: another
    /// node took this run first.
    var takeScheduledRun: String {
        "UPDATE \(schedules) SET next_run_at = \(p(3)), last_run_at = \(p(2)) WHERE name = \(p(1)) AND next_run_at = \(p(2)) RETURNING name"
    }
}
