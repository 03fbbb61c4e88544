"""The sampling stage: plain samplers over ``model(x, sigma)``, history policies, the contract backends implement, and the engine that runs a plan."""
