%% counter.erl - 03_gen_server: the counter as a gen_server.
%%
%% Build and try it:
%%   erlc counter.erl && erl -noshell -eval 'counter:demo(), halt().'
%% or in erl:  c(counter). counter:start_link(). counter:tick(5). counter:read().
-module(counter).
-behaviour(gen_server).
-export([start_link/0, stop/0, tick/1, read/0, crash/0, slow/2, demo/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         code_change/3]).

%% ---- API ----------------------------------------------------------------

%% {ok, Pid}, or {error, {already_started, Pid}}.
start_link() ->
    gen_server:start_link({local, counter}, counter, 0, []).

stop() -> gen_server:cast(counter, stop).

tick(N) -> gen_server:cast(counter, {tick, N}).

%% Exits the caller with noproc, timeout or the server's reason on failure.
read() -> gen_server:call(counter, read).

crash() -> gen_server:cast(counter, crash).

%% A call that keeps the server busy Ms milliseconds; fails with timeout
%% when Ms is longer than Timeout.
slow(Ms, Timeout) -> gen_server:call(counter, {sleep, Ms}, Timeout).

%% ---- Callbacks ----------------------------------------------------------

init(Initial) -> {ok, Initial}.

handle_call(read, _From, Count) -> {reply, Count, Count};
handle_call({sleep, Ms}, _From, Count) ->
    timer:sleep(Ms),
    {reply, ok, Count}.

handle_cast({tick, N}, Count) -> {noreply, Count + N};
handle_cast(stop, Count) -> {stop, normal, Count};
handle_cast(crash, Count) -> {stop, boom, Count}.

handle_info(_Info, Count) -> {noreply, Count}.

terminate(_Reason, _Count) -> ok.

code_change(_OldVsn, Count, _Extra) -> {ok, Count}.

%% ---- The demo, as 03_gen_server/counter runs it -------------------------

demo() ->
    process_flag(trap_exit, true),      % as the C demo's main thread does
    io:format("~p~n", [start_link()]),
    tick(2), tick(3),
    io:format("read: ~p~n", [read()]),
    sys:trace(counter, true),
    tick(5),
    io:format("read: ~p~n", [read()]),
    sys:trace(counter, false),
    io:format("get_state: ~p~n", [sys:get_state(counter)]),
    stop(),
    wait_gone(),
    io:format("read after stop: ~p~n", [catch read()]),
    %% a linked starter's crash takes the counter with it
    Self = self(),
    Client = spawn(fun() -> {ok, P} = start_link(), Self ! {started, P},
                            receive {crash, R} -> exit(R) end end),
    receive {started, P1} -> ok end,
    Ref = monitor(process, P1),
    Client ! {crash, oops},
    receive {'DOWN', Ref, process, _, Why} ->
        io:format("the counter died with ~p~n", [Why]) end,
    %% a slow call times out
    start_link(),
    io:format("slow: ~p~n", [catch slow(300, 100)]),
    io:format("read: ~p~n", [read()]),
    stop(),
    wait_gone(),
    ok.

wait_gone() ->
    Ref = monitor(process, counter),
    receive {'DOWN', Ref, process, _, _} -> ok end.
