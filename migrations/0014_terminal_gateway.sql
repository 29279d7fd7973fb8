-- The terminal gateway (issue 30) authorizes a connection by the host:port it asks for:
-- it looks the endpoint up by its Service address, once per terminal.
create index live_endpoints_host on live_endpoints (host) where host is not null;
