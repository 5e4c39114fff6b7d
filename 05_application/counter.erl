%% counter.erl - 05_application: the counter, registered globally.
%%
%% counter_sup starts it as counter_app's tree: application:start(counter)
%% on each of a, b, c (see beam_demo). read/0 and tick/0,1 go to the global
%% name, so they work on every node of the cluster, wherever it runs.
-module(counter).
-behaviour(gen_server).
-export([start_link/1, stop/0, tick/0, tick/1, read/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         code_change/3]).

%% ---- API ----------------------------------------------------------------

%% Started by counter_sup with the initial value from the application's env.
start_link(Initial) ->
    gen_server:start_link({global, counter}, counter, Initial, []).

stop() -> gen_server:cast({global, counter}, stop).
tick() -> tick(1).
tick(N) -> gen_server:cast({global, counter}, {tick, N}).
%% Exits the caller with noproc while no node runs the counter.
read() -> gen_server:call({global, counter}, read).

%% ---- Callbacks ----------------------------------------------------------

init(Initial) ->
    process_flag(trap_exit, true),
    {ok, Initial}.

handle_call(read, _From, Count) -> {reply, Count, Count}.

handle_cast({tick, N}, Count) -> {noreply, Count + N};
handle_cast(stop, Count) -> {stop, normal, Count}.

handle_info(Info, Count) ->
    io:format("counter: handle_info(~p, ~p)~n", [Info, Count]),
    {noreply, Count}.

terminate(Reason, Count) ->
    io:format("counter: terminate(~p, ~p) on ~p~n", [Reason, Count, node()]).

code_change(_OldVsn, Count, _Extra) -> {ok, Count}.
