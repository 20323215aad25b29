-- Prosody 0.12 as a peer for `npm run bench:delivery` (issue #20): one virtual host with anonymous sign-in (the load
-- generator opens thousands of sessions and needs no accounts), a MUC component for the fan-out case, plain TCP on
-- loopback, no TLS (Sealpost's side runs without TLS too), everything kept in memory. The bench passes the port, data
-- folder and pid file in the environment; nothing here touches a system Prosody.
local env = os.getenv
daemonize = false
-- The bench may run as root (a CI container); Prosody refuses that unless told.
run_as_root = true
certificates = env("PROSODY_DATA")
pidfile = env("PROSODY_PIDFILE")
data_path = env("PROSODY_DATA")
log = { error = env("PROSODY_DATA") .. "/prosody.err" }
interfaces = { "127.0.0.1" }
c2s_ports = { tonumber(env("PROSODY_PORT")) }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
storage = "memory"
network_backend = "epoll"
limits = { c2s = { rate = "100mb/s" } }
modules_enabled = { "roster", "saslauth", "disco", "ping" }
modules_disabled = { "s2s", "offline", "c2s_limits" }
VirtualHost "localhost"
  authentication = "anonymous"
Component "conference.localhost" "muc"
  max_history_messages = 0
  muc_room_default_history_length = 0
  muc_max_occupants = 5000
  restrict_room_creation = false
  muc_room_locking = false
