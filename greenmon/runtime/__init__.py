"""The service runtime: what every long-running greenmon service needs, once.

- ``service.ServiceRuntime``: stop (SIGINT/SIGTERM), the periodic stats line and
  heartbeat, the database connection and its retry loop, the Prometheus endpoint;
- ``consumer.GroupConsumer``: the one Kafka consumer (subscription, join watch and
  stuck-join replacement, seeking to stored positions and validating them against the
  log, lag from the fetch high-water mark, commit after store);
- ``positions``: the pure rule that tells a stored position from another log.

The one back-off policy is ``greenmon.backoff.Backoff`` (a leaf module: storage and the
Kafka helpers use it too). Each service (collector, processor, alerts) is its own logic
plus a few lines of wiring.
"""
