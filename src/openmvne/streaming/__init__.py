"""Usage over NATS JetStream: the network publishes usage records to a stream partitioned by
subscriber, workers rate them in micro-batches through the batch engine, exactly once
(docs/streaming.md).

- `codec`: the records' one schema, and a message = one Arrow IPC stream of 1-5,000 records;
- `layout`: the stream, its subjects (`usage.p.{partition}`) and one durable pull consumer
  per partition; the NATS connection (`OPENMVNE_NATS_URL`);
- `publisher`: `publish(table)` splits records by partition into messages, each with a
  `Nats-Msg-Id` (the message's content hash) so a retried publish is stored once;
- `worker`: pulls micro-batches from its partitions' consumers, rates each with
  `usage.rate_table` (one database transaction), and acks only after the commit.
"""
