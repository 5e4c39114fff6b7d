%% counter.erl - 02_rpc: the counter behind a functional rpc interface.
%%
%% Build and try it:
%%   erlc counter.erl && erl -noshell -eval 'counter:demo(), halt().'
%% or in erl:  c(counter). counter:start(). counter:tick(5). counter:read().
-module(counter).
-export([start/0, stop/0, tick/1, read/0, demo/0]).
-export([rpc_call/3, rpc_cast/2, loop/1]).

-define(TIMEOUT, 5000).

start() ->
    register(counter, spawn(counter, loop, [0])).

stop() ->
    rpc_cast(counter, stop).

tick(N) ->
    rpc_cast(counter, {tick, N}).

read() ->
    rpc_call(counter, read, ?TIMEOUT).

%% Tags the request with a fresh reference and takes only the reply that
%% carries it; every other message stays in the mailbox. Gives up after
%% Timeout ms (a reply that comes later stays in the mailbox).
rpc_call(Server, Msg, Timeout) ->
    Ref = make_ref(),
    Server ! {Msg, {self(), Ref}},
    receive
        {Ref, Reply} -> Reply
    after Timeout ->
        erlang:error(timeout)
    end.

rpc_cast(Server, Msg) ->
    Server ! {Msg, self()},
    ok.

rpc_reply({Pid, Ref}, Reply) ->
    Pid ! {Ref, Reply}.

loop(N) ->
    receive
        {stop, _From} ->
            ok;
        {{tick, T}, _From} ->
            loop(N + T);
        {read, From} ->
            rpc_reply(From, N),
            loop(N);
        _Other ->
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
    receive Stray -> io:format("the stray is still in the mailbox: ~p~n", [Stray])
    after 0 -> io:format("the stray is gone~n")
    end,
    Pid = whereis(counter),
    Ref = monitor(process, Pid),
    ok = stop(),
    receive {'DOWN', Ref, process, Pid, _} -> ok end,
    io:format("rpc_call(Pid, read, 500) on the stopped server raises ~p~n",
              [try rpc_call(Pid, read, 500) catch error:R1 -> R1 end]),
    io:format("read() raises ~p~n", [try read() catch error:R2 -> R2 end]),
    true = counter_lite:start(),
    ok = counter_lite:tick(7),
    io:format("counter_lite:read() -> ~p~n", [counter_lite:read()]),
    ok = counter_lite:stop().
