-- port_of.lua — the port a server started on port 0 listens on.
return function(srv) return select(2, srv.sockets[1]:getsockname()) end
