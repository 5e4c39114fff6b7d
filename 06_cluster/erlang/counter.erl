%% counter.erl - the study's counter on gen_server_cluster (the original of
%% counter.c): start_cluster() on each node; clients use the global name.
-module(counter).
-behaviour(gen_server).
-export([start_cluster/0, read/0, tick/1, stop/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         code_change/3]).

start_cluster() -> gen_server_cluster:start(counter, ?MODULE, 0).
read() -> gen_server:call({global, counter}, read).
tick(N) -> gen_server:cast({global, counter}, {tick, N}).
stop() -> gen_server:cast({global, counter}, stop).

init(Count) -> {ok, Count}.
handle_call(read, _From, Count) -> {reply, Count, Count}.
handle_cast({tick, N}, Count) -> {noreply, Count + N};
handle_cast(stop, Count) -> {stop, normal, Count}.
handle_info(_Msg, Count) -> {noreply, Count}.
terminate(_Why, _Count) -> ok.
code_change(_Old, Count, _Extra) -> {ok, Count}.
