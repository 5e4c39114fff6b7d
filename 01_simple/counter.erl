%% counter.erl - 01_simple: a counter in a process of its own.
%%
%% Build and try it:
%%   erlc counter.erl && erl -noshell -eval 'counter:demo(), halt().'
%% or in erl:  c(counter). counter:start(). counter:tick(5). counter:read().
-module(counter).
-export([start/0, stop/0, tick/1, read/0, demo/0]).
-export([loop/1]).

%% Spawns loop(0) and registers it as counter. Returns true.
%% A second start/0 raises badarg in register/2 and leaves the new process
%% running, unreachable.
start() ->
    register(counter, spawn(counter, loop, [0])).

stop() ->
    counter ! {stop, self()},
    ok.

tick(N) ->
    counter ! {tick, N, self()},
    ok.

%% The reply is the bare count, taken by a receive-anything: any message
%% already in the caller's mailbox is returned instead.
read() ->
    counter ! {read, self()},
    receive
        Any -> Any
    end.

loop(N) ->
    receive
        {stop, _From} ->
            ok;
        {tick, T, _From} ->
            loop(N + T);
        {read, From} ->
            From ! N,
            loop(N)
    end.

%% The C demo's session, in Erlang.
demo() ->
    true = start(),
    ok = tick(2),
    ok = tick(3),
    io:format("read() -> ~p~n", [read()]),
    self() ! 999,
    io:format("after self() ! 999, read() -> ~p~n", [read()]),
    ok = tick(10),
    io:format("after tick(10), read() -> ~p (stale)~n", [read()]),
    Ref = monitor(process, counter),
    ok = stop(),
    receive {'DOWN', Ref, process, _, _} -> ok end,
    io:format("after stop(), read() raises ~p~n",
              [try read() catch error:Reason -> Reason end]).
