%% counter_lite.erl - 02_rpc: the counter as a gen_server_lite callback module.
-module(counter_lite).
-export([start/0, stop/0, tick/1, read/0]).
-export([handle_call/2, handle_cast/2]).

start() -> gen_server_lite:start(counter_lite, counter_lite, 0).
stop() -> gen_server_lite:cast(counter_lite, stop).
tick(N) -> gen_server_lite:cast(counter_lite, {tick, N}).
read() -> gen_server_lite:call(counter_lite, read, 5000).

handle_call(read, N) -> {reply, N, N}.

handle_cast({tick, T}, N) -> {noreply, N + T};
handle_cast(stop, _N) -> stop.
