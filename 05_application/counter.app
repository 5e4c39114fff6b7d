%% counter.app - 05_application: the application resource file.
{application, counter,
 [{description, "The counter, distributed over nodes a, b and c"},
  {vsn, "1.0"},
  {modules, [counter, counter_sup, counter_app]},
  {registered, [counter_sup, counter]},
  {applications, [kernel, stdlib]},
  {env, [{initial, 0}]},
  %% Only an application with start phases is started with {failover, Node};
  %% without them OTP passes normal on a failover too.
  {start_phases, []},
  {mod, {counter_app, []}}]}.
