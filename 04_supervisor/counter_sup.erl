%% counter_sup.erl - 04_supervisor: the counter's supervisor.
%%
%%   erlc counter.erl counter_sup.erl && erl -noshell -eval 'counter_sup:demo(), halt().'
-module(counter_sup).
-behaviour(supervisor).
-export([start_link/1, init/1, demo/0]).

start_link(Initial) ->
    supervisor:start_link({local, counter_sup}, counter_sup, Initial).

init(Initial) ->
    Flags = #{strategy => one_for_one, intensity => 10, period => 3600},
    Child = #{id => counter,
              start => {counter, start_link, [Initial]},
              restart => permanent,
              shutdown => 2000,
              type => worker},
    {ok, {Flags, [Child]}}.

%% ---- The demo, as 04_supervisor/counter runs it -------------------------

demo() ->
    process_flag(trap_exit, true),
    {ok, Sup} = start_link(0),
    io:format("~p~n", [supervisor:which_children(counter_sup)]),
    Ref = monitor(process, Sup),
    Crashes = [fun counter:kill/0, fun counter:error/0, fun counter:divzero/0,
               fun counter:nullptr/0],
    lists:foreach(fun(Crash) -> crash_once(Crash) end, Crashes),
    io:format("~p~n", [supervisor:which_children(counter_sup)]),
    %% six more kills are allowed; the 11th makes counter_sup give up
    give_up(5),
    receive {'DOWN', Ref, process, Sup, Reason} ->
        io:format("counter_sup exited with ~p~n", [Reason]) end.

crash_once(Crash) ->
    counter:tick(5),
    5 = counter:read(),
    Old = whereis(counter),
    Crash(),
    New = await_restart(Old),
    io:format("~p -> ~p, read ~p~n", [Old, New, counter:read()]),
    New.

give_up(N) when N > 11 -> ok;
give_up(N) ->
    Old = whereis(counter),
    counter:kill(),
    case N of
        11 -> ok;
        _ -> await_restart(Old)
    end,
    give_up(N + 1).

await_restart(Old) ->
    case whereis(counter) of
        Pid when is_pid(Pid), Pid =/= Old -> Pid;
        _ -> timer:sleep(1), await_restart(Old)
    end.
