// Assigns Curfew's compute role to its identity on one target subscription.
targetScope = 'subscription'

@description('Principal (object) id of the user-assigned managed identity.')
param principalId string

@description('Resource id of the Curfew compute role.')
param roleDefinitionId string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, roleDefinitionId)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: roleDefinitionId
  }
}
