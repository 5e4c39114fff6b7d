%% tour.erl - the Erlang side of the demos' narration (shell.c's demo_*).
%%
%% A stage's counter.erl (04: counter_sup.erl) runs its demo with these, so
%% that `erl` prints the same transcript as the C program: narration as
%% "%% ..." lines, and each step as the shell shows it, "N> Expr" and then
%% its value or the exception it raised, in one line (~0p).
%%
%%   say(Text)             %% Text                        (demo_say)
%%   show(Expr, Fun)       runs Fun, then prints the      (demo_show_term,
%%                         prompt and the result          demo_show_text)
%%   call(Expr, Fun)       prints the prompt, runs Fun,   (demo_prompt,
%%                         prints the result: what Fun    demo_value)
%%                         makes others print comes in between
%%   before(Expr, V, Fun)  prints the prompt and V, then  (the C demo holds
%%                         runs Fun, which must return V: stdout meanwhile)
%%                         for a crash, whose reports must come after
%%                         its step however fast they are
%%   flush()               the shell's flush(), as a step: "Shell got Msg"
%%                         for each message, then ok
%%
%% The prompt number lives in the process dictionary; start/0 resets it.
%% start/0 also makes the logger write each report before the process that
%% logs it goes on (sync_mode_qlen 0), so that a report comes where the C
%% program prints its own, under the step that caused it.
-module(tour).
-export([start/0, say/1, say/2, show/2, call/2, before/3, flush/0]).

start() ->
    put(tour_prompt, 1),
    _ = logger:update_handler_config(default, config, #{sync_mode_qlen => 0}),
    ok.

say(Text) -> io:format("%% ~ts~n", [Text]).

say(Fmt, Args) -> say(io_lib:format(Fmt, Args)).

show(Expr, Fun) ->
    Result = run(Fun),
    io:format("~ts~n~ts~n", [prompt(Expr), Result]).

call(Expr, Fun) ->
    io:format("~ts~n", [prompt(Expr)]),
    io:format("~ts~n", [run(Fun)]).

before(Expr, Value, Fun) ->
    io:format("~ts~n~0p~n", [prompt(Expr), Value]),
    Value = Fun(),
    ok.

flush() ->
    Got = [io_lib:format("Shell got ~0p~n", [Msg]) || Msg <- drain([])],
    io:format("~ts~n~tsok~n", [prompt("flush()."), Got]).

%% The messages in the caller's mailbox, taken out in order.
drain(Msgs) ->
    receive Msg -> drain([Msg | Msgs])
    after 0 -> lists:reverse(Msgs)
    end.

%% "N> Expr", and the next number.
prompt(Expr) ->
    N = case get(tour_prompt) of undefined -> 1; P -> P end,
    put(tour_prompt, N + 1),
    io_lib:format("~b> ~ts", [N, Expr]).

%% Fun's value as the shell prints it, or the exception's first line.
%% A send to a name nobody holds is named as the C shell names it.
run(Fun) ->
    try io_lib:format("~0p", [Fun()])
    catch
        error:Reason:Stack -> error_text(Reason, Stack);
        exit:Reason -> io_lib:format("** exception exit: ~0p", [Reason])
    end.

error_text(badarg, [{erlang, send, [Name, _], _} | _]) when is_atom(Name) ->
    io_lib:format("** exception error: bad argument: "
                  "no process registered as ~p", [Name]);
error_text(Reason, _Stack) ->
    io_lib:format("** exception error: ~0p", [Reason]).
