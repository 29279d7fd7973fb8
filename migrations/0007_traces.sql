-- The W3C traceparent of the request that created a livelesson: its later jobs (MODIFY,
-- DELETE, whoever enqueues them) link their spans to this first trace. Null for rows
-- created before this column, or by a caller without a trace.
alter table livelessons add column traceparent text;
